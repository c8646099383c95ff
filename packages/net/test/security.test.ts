/**
 * Authentication and bad input at a node's port: a peer without the secret, frames before
 * authentication, and 10,000 random and truncated frames. The node stays up and keeps
 * serving everyone else.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer } from 'ws';
import type { Cluster } from '@quicksand/core';
import { LocalCluster, MsgpackCodec } from '@quicksand/net';
import { WIRE_PROTOCOL, WsTransport, localNodes, localSecret, mac, nonce } from '@quicksand/net/internal';
import { CounterType } from './fixtures/types.js';
import { rng } from './helpers.js';

interface Raw {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  challenge: Promise<{ id: string; nonce: string }>;
}

function open(url: string): Promise<Raw> {
  const ws = new WebSocket(url, { generateMask: () => undefined });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const challenge = new Promise<{ id: string; nonce: string }>((resolve) => ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString()) as { id: string; nonce: string })));
  ws.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, closed, challenge }));
    ws.once('error', reject);
  });
}

/** Completes the handshake with `secret`; resolves with the welcome (or null if refused). */
async function authenticate(raw: Raw, secret: string, id: string, v: number | null = WIRE_PROTOCOL): Promise<unknown> {
  const ch = await raw.challenge;
  const mine = nonce();
  // v null: no version at all, as ends of wire protocol 1 sent.
  raw.ws.send(JSON.stringify({ t: 'auth', ...(v === null ? {} : { v }), id, kind: 'client', address: null, nonce: mine, mac: mac(Buffer.from(secret), 'auth', ch.nonce, mine, id, ch.id) }));
  return await Promise.race([new Promise((resolve) => raw.ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString())))), raw.closed.then(() => null)]);
}

describe('security — authentication and bad input at a node port', () => {
  let cluster: Cluster;
  let url: string;
  let secret: string;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }], logs: 'silent' });
    const n1 = localNodes(cluster).find((n) => n.id === 'n1')!;
    url = n1.url;
    secret = localSecret(cluster);
  });
  after(async () => {
    await cluster.close();
  });

  async function stillServing(): Promise<void> {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    expect(await ref.call('add', 1)).to.equal(1);
  }

  it('closes a peer with the wrong secret, and applies nothing it sent', async () => {
    const raw = await open(url);
    const welcome = await authenticate(raw, 'not-the-cluster-secret-at-all', 'intruder');
    expect(welcome).to.equal(null);
    const { code } = await raw.closed;
    expect(code).to.equal(4000);
    const before = (await cluster.stats()).proclets.length;
    await stillServing();
    expect((await cluster.stats()).proclets.length).to.equal(before + 1);
  });

  it('closes a connection that sends data before authenticating', async () => {
    const raw = await open(url);
    await raw.challenge;
    const create = new MsgpackCodec().encode([[1, 1, '@controller', 'create', ['net-test.Counter', null, 'memory', [], {}]]]);
    raw.ws.send(create as Uint8Array);
    const { reason } = await raw.closed;
    expect(reason).to.contain('before authentication');
    await stillServing();
  });

  it('refuses a peer of another wire protocol version at the handshake, saying so', async () => {
    for (const v of [null, WIRE_PROTOCOL + 1]) {
      const raw = await open(url);
      const ch = (await raw.challenge) as { v?: unknown };
      expect(ch.v).to.equal(WIRE_PROTOCOL); // the node says its own
      expect(await authenticate(raw, secret, 'old-client', v)).to.equal(null);
      const { code, reason } = await raw.closed;
      expect(code).to.equal(4000);
      expect(reason).to.contain(`wire protocol ${v ?? 1}, this end ${WIRE_PROTOCOL}`);
    }
    await stillServing();
  });

  it('does not answer a node of another wire protocol version, and says why', async () => {
    // A listener of wire protocol 1: its challenge carries no version.
    const old = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    old.on('connection', (ws) => ws.send(JSON.stringify({ t: 'challenge', id: 'old-node', nonce: nonce() })));
    await new Promise((resolve) => old.once('listening', resolve));
    const t = new WsTransport({ id: 'new-client', kind: 'client', secret: Buffer.from(secret), log: () => undefined });
    try {
      const e = await t.dialSeed(`ws://127.0.0.1:${(old.address() as { port: number }).port}`).then(
        () => null,
        (err: unknown) => err as Error,
      );
      expect(e?.message).to.contain(`node old-node speaks wire protocol 1, this end ${WIRE_PROTOCOL}`);
    } finally {
      await t.close();
      await new Promise((resolve) => old.close(resolve));
    }
  });

  it('accepts the right secret (the test client itself is sound)', async () => {
    const raw = await open(url);
    const welcome = (await authenticate(raw, secret, 'tester')) as { t: string } | null;
    expect(welcome).to.not.equal(null);
    expect(welcome!.t).to.equal('welcome');
    raw.ws.close();
    await raw.closed;
  });

  it('closes a connection that sends a malformed run of calls, and runs none of the run', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const codec = new MsgpackCodec();
    const runs = [
      [7, ref.id, 'add', [1, 2, 3], [[5], [5]]], // columns of different lengths
      [7, ref.id, 'add', [1, 'two', 3], [[5], [5], [5]]], // a bad call id in the middle
      [7, ref.id, 'add', [1, 2], [[5], 5]], // arguments that are not a list
    ];
    for (const run of runs) {
      const raw = await open(url);
      await authenticate(raw, secret, 'run-tester');
      raw.ws.send(codec.encode([run]) as Uint8Array);
      const { reason } = await raw.closed;
      expect(reason).to.contain('malformed call run');
    }
    expect(await ref.call('add', 1)).to.equal(1);
  });

  it('survives 10,000 random and truncated frames, unauthenticated and authenticated, and keeps serving', async function () {
    this.timeout(120_000);
    const rand = rng(2024);
    const codec = new MsgpackCodec();
    const valid = codec.encode([[1, 7, '@n1', 'usage', []], [7, '@n1', 'usage', [8, 9], [[], []]], [2, 3, { a: [1, 2, 3], s: 'x'.repeat(100) }], [8, [4, 5], [1, 'x']]]) as Uint8Array;
    const frame = (i: number): Buffer => {
      const kind = i % 4;
      if (kind === 0) return randomBytes(1 + Math.floor(rand() * 256));
      if (kind === 1) return Buffer.from(valid.subarray(0, Math.floor(rand() * valid.byteLength))); // truncated
      if (kind === 2) {
        const b = Buffer.from(valid);
        for (let k = 0; k < 4; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256); // corrupted
        return b;
      }
      return Buffer.concat([Buffer.from([0xc1, 0xff, 0xff, 0xff, 0x7f]), randomBytes(32)]); // lying header
    };
    let sent = 0;
    const total = 10_000;
    const perConnection = 20;
    const parallel = 25;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const start = next;
        next += perConnection;
        let raw: Raw;
        try {
          raw = await open(url);
        } catch {
          continue; // the node may reset a connection under this load; it must stay up
        }
        const authed = start % (2 * perConnection) === 0;
        if (authed) await authenticate(raw, secret, `fuzz-${start}`);
        else await raw.challenge;
        for (let i = start; i < Math.min(total, start + perConnection); i++) {
          if (raw.ws.readyState !== WebSocket.OPEN) break;
          raw.ws.send(i % 7 === 0 ? frame(i).toString('latin1') : frame(i), { binary: i % 7 !== 0 });
          sent++;
        }
        raw.ws.terminate();
        await raw.closed;
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    expect(sent).to.be.greaterThan(0);
    expect(next).to.be.at.least(total);
    const n1 = localNodes(cluster).find((n) => n.id === 'n1')!;
    expect(n1.process.exitCode, n1.logs.slice(-15).join("\n")).to.equal(null);
    await stillServing();
  });
});

