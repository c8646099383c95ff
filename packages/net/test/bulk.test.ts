/**
 * The bulk lane: large chunked frames travel on it and arrive in their place among the
 * WebSocket's frames; a lane's port refuses bad input and wrong secrets; a lane cut in the
 * middle of a frame loses the peer (a frame is gone), a clean close between frames does not.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Frame } from '@quicksand/core';
import { WIRE_PROTOCOL, mac, nonce, WsTransport } from '@quicksand/net/internal';
import { eventually, rng } from './helpers.js';

const SECRET = Buffer.from('bulk-lane-test-secret-0123456789');

interface Endpoint {
  t: WsTransport;
  frames: Array<[string, Frame]>;
  lost: Array<[string, string]>;
  logs: string[];
}

async function node(id: string, bulkMinBytes?: number): Promise<Endpoint> {
  const logs: string[] = [];
  const t = new WsTransport({ id, kind: 'node', secret: SECRET, log: (l) => logs.push(l), ...(bulkMinBytes !== undefined ? { bulkMinBytes } : {}) });
  await t.listenOn('127.0.0.1', 0);
  const e: Endpoint = { t, frames: [], lost: [], logs };
  t.listen({ frame: (from, f) => e.frames.push([from, f]), peerLost: (p, why) => e.lost.push([p, why]) });
  return e;
}

function joined(f: Frame): Buffer {
  return Array.isArray(f) ? Buffer.concat(f) : Buffer.from(f);
}

/** Length-prefixed JSON, as on a lane's handshake. */
function message(msg: object): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.byteLength);
  return Buffer.concat([head, body]);
}

/** Reads one length-prefixed JSON message from a socket's data (the first in `buf`). */
function readMessage(socket: Socket): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.byteLength < 4 || buf.byteLength < 4 + buf.readUInt32LE(0)) return;
      socket.off('data', onData);
      resolve(JSON.parse(buf.subarray(4, 4 + buf.readUInt32LE(0)).toString()) as Record<string, unknown>);
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(null));
  });
}

/** The bulk port a node announces in its WebSocket challenge. */
async function bulkPortOf(url: string): Promise<number> {
  const ws = new WebSocket(url);
  const msg = await new Promise<{ bulk: number }>((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString()) as { bulk: number }));
    ws.once('error', reject);
  });
  ws.terminate();
  return msg.bulk;
}

describe('bulk lane — large frames beside the WebSocket', () => {
  const open: WsTransport[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
    for (const s of servers.splice(0)) s.close();
  });

  it('carries large chunked frames on the lane, in their place among small frames, byte for byte', async () => {
    const a = await node('a');
    const b = await node('b');
    open.push(a.t, b.t);
    a.t.addPeer('b', b.t.url!);
    const rand = rng(7);
    const sent: Buffer[] = [];
    const sendOne = (big: boolean): void => {
      const frame = big ? [randomBytes(20), randomBytes(256 * 1024 + Math.floor(rand() * 100_000)), randomBytes(40_000)] : randomBytes(1 + Math.floor(rand() * 200));
      sent.push(joined(frame));
      a.t.send('b', frame);
    };
    // The first frames go on the WebSocket (the lane is dialed once b knows a), later ones on the lane.
    for (let i = 0; i < 40; i++) sendOne(rand() < 0.4);
    await eventually(() => {
      sendOne(true);
      return a.t.counters.laneFramesOut > 0;
    }, 'the lane up');
    for (let i = 0; i < 40; i++) sendOne(rand() < 0.4);
    await eventually(() => b.frames.length === sent.length, 'every frame at b');
    expect(a.t.counters.laneFramesOut).to.be.greaterThan(1);
    expect(b.frames.map(([, f]) => joined(f).toString('hex'))).to.deep.equal(sent.map((f) => f.toString('hex')));
    expect(b.frames.every(([from]) => from === 'a')).to.equal(true);
    expect(b.t.counters.laneFramesIn).to.equal(a.t.counters.laneFramesOut);
    // A lane frame keeps its chunks, each in a buffer of its own.
    const bigs = b.frames.filter(([, f]) => Array.isArray(f) && f.length === 3 && f[1]!.byteOffset === 0 && f[1]!.buffer.byteLength === f[1]!.byteLength);
    expect(bigs.length).to.be.at.least(a.t.counters.laneFramesOut);
    expect(a.lost).to.deep.equal([]);
    expect(b.lost).to.deep.equal([]);
  });

  it('keeps every frame on the WebSocket when bulkMinBytes is Infinity', async () => {
    const a = await node('a', Infinity);
    const b = await node('b');
    open.push(a.t, b.t);
    a.t.addPeer('b', b.t.url!);
    const big = [randomBytes(10), randomBytes(512 * 1024)];
    for (let i = 0; i < 3; i++) a.t.send('b', big);
    await eventually(() => b.frames.length === 3, 'three frames at b');
    expect(a.t.counters.laneFramesOut).to.equal(0);
    expect(joined(b.frames[2]![1]).equals(joined(big))).to.equal(true);
  });

  it('refuses a wrong secret, bad handshakes and random bytes at a lane port, and keeps working', async function () {
    this.timeout(30_000);
    const a = await node('a');
    const b = await node('b');
    open.push(a.t, b.t);
    const port = await bulkPortOf(b.t.url!);
    expect(port).to.be.a('number');
    const dial = async (): Promise<{ s: Socket; challenge: Record<string, unknown> | null; closed: Promise<void> }> => {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
      const challenge = await readMessage(s);
      return { s, challenge, closed };
    };
    // A wrong secret: no welcome, the lane closes.
    {
      const { s, challenge, closed } = await dial();
      expect(challenge!.t).to.equal('challenge');
      const mine = nonce();
      s.write(message({ t: 'auth', id: 'intruder', nonce: mine, mac: mac(Buffer.from('not-the-secret-not-the-secret!!'), 'bulk-auth', challenge!.nonce as string, mine, 'intruder', 'b') }));
      expect(await readMessage(s)).to.equal(null);
      await closed;
    }
    // A lying length, and random bytes of every size.
    const rand = rng(11);
    for (let i = 0; i < 200; i++) {
      const { s, closed } = await dial();
      s.write(i === 0 ? Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2]) : randomBytes(1 + Math.floor(rand() * 6000)));
      setTimeout(() => s.destroy(), 50).unref();
      await closed;
    }
    // The right secret, then data from the receiving side: closed.
    {
      const { s, challenge, closed } = await dial();
      const mine = nonce();
      s.write(message({ t: 'auth', id: 'tester', nonce: mine, mac: mac(SECRET, 'bulk-auth', challenge!.nonce as string, mine, 'tester', 'b') }));
      const welcome = await readMessage(s);
      expect(welcome!.t).to.equal('welcome');
      expect(welcome!.mac).to.equal(mac(SECRET, 'bulk-welcome', mine, challenge!.nonce as string, 'b', 'tester'));
      s.write(Buffer.from([1, 0, 0, 0]));
      await closed;
    }
    expect(b.logs.some((l) => l.includes('failed authentication'))).to.equal(true);
    expect(b.logs.some((l) => l.includes('data from the receiving side'))).to.equal(true);
    // The node still carries lane frames.
    a.t.addPeer('b', b.t.url!);
    let sent = 0;
    await eventually(() => {
      a.t.send('b', [randomBytes(10), randomBytes(300_000)]);
      sent++;
      return a.t.counters.laneFramesOut > 0;
    }, 'a frame on the lane');
    await eventually(() => b.frames.length === sent, 'every frame at b');
    expect(b.lost).to.deep.equal([]);
  });

  /**
   * A fake node 'f' that dials `target` on the WebSocket announcing a lane server of its
   * own, which the target then dials; returns the fake's lane socket once authenticated
   * and the WebSocket it sends on.
   */
  async function fakeNode(target: Endpoint): Promise<{ ws: WebSocket; lane: Socket }> {
    let laneResolve!: (s: Socket) => void;
    const laneReady = new Promise<Socket>((resolve) => (laneResolve = resolve));
    const server = createServer((s) => {
      s.on('error', () => undefined);
      const mine = nonce();
      s.write(message({ t: 'challenge', id: 'f', nonce: mine }));
      void readMessage(s).then((auth) => {
        if (auth === null) return;
        s.write(message({ t: 'welcome', id: 'f', mac: mac(SECRET, 'bulk-welcome', auth.nonce as string, mine, 'f', auth.id as string) }));
        laneResolve(s);
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const lanePort = (server.address() as { port: number }).port;
    const ws = new WebSocket(target.t.url!, { generateMask: () => undefined });
    ws.on('error', () => undefined);
    const ch = await new Promise<{ id: string; nonce: string }>((resolve) => ws.once('message', (d) => resolve(JSON.parse((d as Buffer).toString()) as { id: string; nonce: string })));
    const mine = nonce();
    ws.send(JSON.stringify({ t: 'auth', v: WIRE_PROTOCOL, id: 'f', kind: 'node', address: 'ws://127.0.0.1:1', bulk: lanePort, nonce: mine, mac: mac(SECRET, 'auth', ch.nonce, mine, 'f', ch.id) }));
    await new Promise((resolve) => ws.once('message', resolve)); // welcome
    return { ws, lane: await laneReady };
  }

  it('loses a peer whose lane is cut in the middle of a frame, and passes up nothing of it', async () => {
    const b = await node('b');
    open.push(b.t);
    const { ws, lane } = await fakeNode(b);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(2, 0);
    head.writeUInt32LE(10, 4);
    head.writeUInt32LE(1_000_000, 8);
    ws.send(Buffer.alloc(0), { binary: true });
    lane.write(Buffer.concat([head, randomBytes(5000)]));
    lane.destroy();
    await eventually(() => b.lost.length > 0, 'f lost');
    expect(b.lost.map(([p]) => p)).to.deep.equal(['f']);
    expect(b.lost[0]![1]).to.contain('bulk lane');
    expect(b.frames).to.deep.equal([]);
    ws.terminate();
  });

  it('loses a peer whose empty message waits on a lane that closed, but not one whose lane closed between frames', async () => {
    const b = await node('b');
    open.push(b.t);
    const { ws, lane } = await fakeNode(b);
    const frame = [Buffer.from('head'), randomBytes(300_000)];
    const head = Buffer.alloc(12);
    head.writeUInt32LE(2, 0);
    head.writeUInt32LE(frame[0]!.byteLength, 4);
    head.writeUInt32LE(frame[1]!.byteLength, 8);
    ws.send(Buffer.alloc(0), { binary: true });
    lane.write(Buffer.concat([head, ...frame]));
    ws.send(Buffer.from('after'), { binary: true });
    await eventually(() => b.frames.length === 2, 'two frames at b');
    expect(joined(b.frames[0]![1]).equals(Buffer.concat(frame))).to.equal(true);
    expect(joined(b.frames[1]![1]).toString()).to.equal('after');
    lane.end();
    await new Promise((resolve) => lane.once('close', resolve));
    // Closed between frames: nothing lost yet; an empty message now has no lane to wait on.
    ws.send(Buffer.from('still here'), { binary: true });
    await eventually(() => b.frames.length === 3, 'the third frame at b');
    expect(b.lost).to.deep.equal([]);
    ws.send(Buffer.alloc(0), { binary: true });
    await eventually(() => b.lost.length > 0, 'f lost');
    expect(b.lost.map(([p]) => p)).to.deep.equal(['f']);
    ws.terminate();
  });
});
