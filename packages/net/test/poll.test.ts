/**
 * Busy polling after a batch frame: a frame of 1 KiB or more starts a short poll of the
 * event loop on the receiving end, a small one never does, and neither does a transport
 * whose owner says no (a node with busy compute workers) or whose `busyPollMs` is 0.
 */
import { expect } from 'chai';
import { connect } from '@quicksand/net';
import { WsTransport } from '@quicksand/net/internal';
import { eventually } from './helpers.js';

const SECRET = Buffer.from('busy-poll-test-secret-0123456789');

async function node(id: string, busyPollMs?: number): Promise<{ t: WsTransport; got: number[] }> {
  const t = new WsTransport({ id, kind: 'node', secret: SECRET, log: () => undefined, ...(busyPollMs !== undefined ? { busyPollMs } : {}) });
  await t.listenOn('127.0.0.1', 0);
  const got: number[] = [];
  t.listen({ frame: (_from, f) => got.push(Array.isArray(f) ? f.reduce((n, c) => n + c.byteLength, 0) : f.byteLength), peerLost: () => undefined });
  return { t, got };
}

describe('busy polling after batch frames', () => {
  const open: WsTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  it('polls after a batch frame only, and only where its owner allows and the option is on', async () => {
    const sender = await node('s');
    const polls = await node('p');
    const refuses = await node('r');
    const off = await node('o', 0);
    open.push(sender.t, polls.t, refuses.t, off.t);
    refuses.t.pollWhile = () => false;
    for (const r of [polls, refuses, off]) sender.t.addPeer(r.t.self, r.t.url!);

    for (const r of [polls, refuses, off]) sender.t.send(r.t.self, new Uint8Array(100).fill(1));
    await eventually(() => [polls, refuses, off].every((r) => r.got.length === 1), 'the small frames');
    expect(polls.t.counters.busyPolls).to.equal(0);

    for (const r of [polls, refuses, off]) sender.t.send(r.t.self, new Uint8Array(4096).fill(2));
    await eventually(() => [polls, refuses, off].every((r) => r.got.length === 2), 'the batch frames');
    expect(polls.got).to.deep.equal([100, 4096]);
    expect(polls.t.counters.busyPolls).to.equal(1);
    expect(refuses.t.counters.busyPolls).to.equal(0);
    expect(off.t.counters.busyPolls).to.equal(0);
  });

  it('refuses a busyPollMs out of range before dialing', async () => {
    let err: unknown = null;
    await connect('ws://127.0.0.1:1', { secret: SECRET, busyPollMs: 5000 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
    expect((err as Error).message).to.match(/busyPollMs must be a number of milliseconds from 0 to 1000, got 5000/);
  });
});
