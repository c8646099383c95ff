/**
 * The bulk lane: beside the WebSocket between two endpoints, a plain TCP connection per
 * direction that carries frames with large out-of-band chunks (migration state, bulk
 * payloads). The receiver dials the sender's bulk port and reads each chunk straight into
 * a buffer of its own (`net.connect`'s `onread`), so the kernel copies the bytes once,
 * into the memory the proclet then keeps, while they arrive. On the WebSocket the same
 * bytes are copied a second time, in one piece, after the whole message has arrived
 * (ws joins a message's pieces when its last byte is in): about 3.5 ms per 10 MiB here.
 *
 * Order is kept by the transport: the sender puts an empty message on the WebSocket
 * where the frame belongs, and the receiver takes the lane's next frame there.
 *
 * Handshake (length-prefixed JSON, at most 4 KiB each), as on the WebSocket but with its
 * own HMAC labels: the listener (the sender) sends `{t:'challenge', id, nonce}`; the
 * dialer (the receiver) answers `{t:'auth', id, nonce, mac}`; the listener checks it and
 * answers `{t:'welcome', id, mac}`, which the dialer checks. Nothing is sent on a lane
 * before that, and a dialer never sends after its answer: any other byte closes the lane.
 *
 * A frame on the lane: u32 LE chunk count (1 to 4096), that many u32 LE lengths, then the
 * chunks' bytes. Each chunk arrives in a buffer of its own (typed arrays stay aligned).
 *
 * A lane that closes is forgotten, and later frames go on the WebSocket. The receiver
 * reports whether it closed in the middle of a frame or after bad data (a frame is lost,
 * so the transport loses the peer); a clean close between frames loses nothing (a node
 * that leaves closes its lanes). A sender never learns more than that its lane is gone:
 * an empty message whose frame never comes makes the receiver lose the peer.
 */
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dialerProof, isAnswer, listenerProof, macEqual, nonce } from './auth.js';

/** Most chunks in one frame on a lane. */
const MAX_CHUNKS = 4096;
/** Largest handshake message. */
const MESSAGE_MAX = 4096;

/** What a {@link BulkLanes} needs from its transport. */
export interface BulkLanesOptions {
  /** This endpoint's id, read when a handshake runs (a node learns its id late). */
  self: () => string;
  secret: Uint8Array;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  log: (line: string) => void;
  /** A whole frame arrived from `peer`. */
  frame: (peer: string, frame: Uint8Array[]) => void;
  /** The lane from `peer` closed; `broken` when a frame was cut or bad data came. */
  closed: (peer: string, broken: boolean) => void;
}

/** Writes a length-prefixed JSON message. */
function writeMessage(socket: Socket, msg: object): void {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.byteLength, 0);
  socket.write(Buffer.concat([head, body]));
}

/** @internal The bulk lanes of one endpoint: lanes it sends on (dialed by peers) and lanes it receives on (dialed by it). */
export class BulkLanes {
  readonly #o: BulkLanesOptions;
  #server: Server | null = null;
  /** Authenticated lanes peers dialed: frames to them go here. */
  readonly #out = new Map<string, Socket>();
  /** Lanes this endpoint dialed (authenticated or not yet): frames from them come here. */
  readonly #in = new Map<string, Socket>();
  #closing = false;

  constructor(options: BulkLanesOptions) {
    this.#o = options;
  }

  /** Listens on `host:port` (0: a free port); resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.#o.log(`quicksand: ${this.#o.self()} bulk lane server error: ${e.message}`));
    const addr = server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('bulk lane server has no address');
    return addr.port;
  }

  /** Whether frames from `peer` can arrive on a lane (dialed, perhaps not yet authenticated). */
  receives(peer: string): boolean {
    return this.#in.has(peer);
  }

  /** Sends `frame` to `peer` on its lane; false when there is none (send it on the WebSocket). */
  send(peer: string, frame: Uint8Array[]): boolean {
    const socket = this.#out.get(peer);
    if (socket === undefined || socket.destroyed || frame.length > MAX_CHUNKS) return false;
    const head = Buffer.allocUnsafe(4 + 4 * frame.length);
    head.writeUInt32LE(frame.length, 0);
    for (let i = 0; i < frame.length; i++) head.writeUInt32LE(frame[i]!.byteLength, 4 + 4 * i);
    socket.cork();
    socket.write(head);
    for (const c of frame) if (c.byteLength > 0) socket.write(c);
    socket.uncork();
    return true;
  }

  /** Dials `peer`'s lane at `host:port` to receive on it (once per peer). */
  dial(peer: string, host: string, port: number): void {
    if (this.#closing || this.#in.has(peer)) return;
    const reader = new LaneReader(this.#o, peer, (msg) => writeMessage(socket, msg));
    const socket = connect({ host, port, onread: reader.onread });
    reader.socket = socket;
    socket.setNoDelay(true);
    this.#in.set(peer, socket);
    const timer = setTimeout(() => reader.fail('handshake timed out'), this.#o.handshakeTimeoutMs);
    timer.unref();
    reader.onAuthed = () => clearTimeout(timer);
    socket.on('error', (e) => {
      if (!this.#closing) this.#o.log(`quicksand: ${this.#o.self()}: bulk lane from ${peer} failed: ${e.message}`);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (this.#in.get(peer) !== socket) return;
      this.#in.delete(peer);
      if (!this.#closing) this.#o.closed(peer, reader.broken);
    });
  }

  /** The listening side of a lane: authenticate the dialer, then send to it. */
  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const myNonce = nonce();
    let peer: string | null = null;
    let authed = false;
    let buffered: Buffer = Buffer.alloc(0);
    const fail = (reason: string): void => {
      this.#o.log(`quicksand: ${this.#o.self()} closed a bulk lane${peer !== null ? ` with ${peer}` : ''}: ${reason}`);
      socket.destroy();
    };
    const timer = setTimeout(() => fail('handshake timed out'), this.#o.handshakeTimeoutMs);
    timer.unref();
    socket.on('data', (d: Buffer) => {
      if (authed) return fail('data from the receiving side');
      buffered = buffered.byteLength === 0 ? d : Buffer.concat([buffered, d]);
      if (buffered.byteLength < 4) return;
      const len = buffered.readUInt32LE(0);
      if (len > MESSAGE_MAX) return fail('oversized handshake message');
      if (buffered.byteLength < 4 + len) return;
      if (buffered.byteLength > 4 + len) return fail('data after the handshake answer');
      const m = parseMessage(buffered.subarray(4));
      const self = this.#o.self();
      if (m === null || !isAnswer(m)) return fail('malformed authentication message');
      if (!macEqual(m.mac, dialerProof(this.#o.secret, 'bulk-', myNonce, m.nonce, m.id, self))) return fail(`peer '${m.id}' failed authentication (wrong cluster secret)`);
      clearTimeout(timer);
      peer = m.id;
      authed = true;
      writeMessage(socket, { t: 'welcome', id: self, mac: listenerProof(this.#o.secret, 'bulk-', m.nonce, myNonce, self, m.id) });
      this.#out.get(m.id)?.destroy();
      this.#out.set(m.id, socket);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (peer !== null && this.#out.get(peer) === socket) this.#out.delete(peer);
    });
    writeMessage(socket, { t: 'challenge', id: this.#o.self(), nonce: myNonce });
  }

  /** Closes `peer`'s lanes (it is lost or disconnected). */
  drop(peer: string): void {
    const o = this.#out.get(peer);
    const i = this.#in.get(peer);
    this.#out.delete(peer);
    this.#in.delete(peer);
    o?.destroy();
    i?.destroy();
  }

  close(): Promise<void> {
    this.#closing = true;
    for (const s of this.#out.values()) s.destroy();
    for (const s of this.#in.values()) s.destroy();
    this.#out.clear();
    this.#in.clear();
    const server = this.#server;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

function parseMessage(body: Uint8Array): Record<string, unknown> | null {
  try {
    const m: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The receiving end of a lane: reads exactly what comes next (a length, a message, a
 * frame's lengths, a chunk) into a buffer of that size, chunks into their own buffers.
 */
class LaneReader {
  socket: Socket | null = null;
  authed = false;
  onAuthed: () => void = () => undefined;
  readonly #o: BulkLanesOptions;
  readonly #peer: string;
  readonly #write: (msg: object) => void;
  #buf: Buffer = Buffer.allocUnsafe(4);
  #at = 0;
  #then: (buf: Buffer) => void;
  #myNonce = nonce();
  #theirNonce = '';
  #chunks: Buffer[] = [];
  #next = 0;
  #failed = false;
  /** Whether part of a frame has been read (its count, lengths or chunks). */
  #inFrame = false;
  readonly onread = {
    buffer: (): Uint8Array => this.#buf.subarray(this.#at),
    callback: (n: number): boolean => {
      this.#at += n;
      if (this.#at === this.#buf.byteLength) this.#then(this.#buf);
      return !this.#failed;
    },
  };

  constructor(o: BulkLanesOptions, peer: string, write: (msg: object) => void) {
    this.#o = o;
    this.#peer = peer;
    this.#write = write;
    this.#then = (b) => this.#message(b, (m) => this.#challenge(m));
  }

  /** Whether the lane failed after authentication or stopped inside a frame. */
  get broken(): boolean {
    return this.authed && (this.#failed || this.#inFrame || this.#at > 0);
  }

  fail(reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#o.log(`quicksand: ${this.#o.self()} closed its bulk lane from ${this.#peer}: ${reason}`);
    this.socket?.destroy();
  }

  /** Reads `n` bytes next (n > 0), then calls `then` with them. */
  #need(n: number, then: (buf: Buffer) => void): void {
    this.#buf = Buffer.allocUnsafe(n);
    this.#at = 0;
    this.#then = then;
  }

  /** Handles a handshake message's length prefix (in `b`), then reads the message. */
  #message(b: Buffer, handle: (m: Record<string, unknown>) => void): void {
    const len = b.readUInt32LE(0);
    if (len === 0 || len > MESSAGE_MAX) return this.fail('bad handshake message length');
    this.#need(len, (body) => {
      const m = parseMessage(body);
      if (m === null) return this.fail('handshake message is not a JSON object');
      handle(m);
    });
  }

  #challenge(m: Record<string, unknown>): void {
    if (m.t !== 'challenge' || m.id !== this.#peer || typeof m.nonce !== 'string' || m.nonce.length > 128) {
      return this.fail(`unexpected challenge (expected one from ${this.#peer})`);
    }
    this.#theirNonce = m.nonce;
    const self = this.#o.self();
    this.#write({ t: 'auth', id: self, nonce: this.#myNonce, mac: dialerProof(this.#o.secret, 'bulk-', m.nonce, this.#myNonce, self, this.#peer) });
    this.#need(4, (b) => this.#message(b, (w) => this.#welcome(w)));
  }

  #welcome(m: Record<string, unknown>): void {
    const expected = listenerProof(this.#o.secret, 'bulk-', this.#myNonce, this.#theirNonce, this.#peer, this.#o.self());
    if (m.t !== 'welcome' || m.id !== this.#peer || !macEqual(m.mac, expected)) return this.fail('the sender failed authentication (wrong cluster secret?)');
    this.authed = true;
    this.onAuthed();
    this.#need(4, (b) => this.#count(b));
  }

  #count(b: Buffer): void {
    this.#inFrame = true;
    const n = b.readUInt32LE(0);
    if (n === 0 || n > MAX_CHUNKS) return this.fail(`a frame of ${n} chunks (1 to ${MAX_CHUNKS} allowed)`);
    this.#need(4 * n, (lens) => this.#lengths(lens, n));
  }

  #lengths(lens: Buffer, n: number): void {
    const sizes: number[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const len = lens.readUInt32LE(4 * i);
      sizes.push(len);
      total += len;
    }
    if (total === 0) return this.fail('an empty frame');
    if (total > this.#o.maxFrameBytes) return this.fail(`a frame of ${total} bytes (limit ${this.#o.maxFrameBytes})`);
    this.#chunks = sizes.map((len) => Buffer.allocUnsafe(len));
    this.#next = 0;
    this.#chunk();
  }

  /** Reads the next non-empty chunk, or hands the frame up when all are in. */
  #chunk(): void {
    const chunks = this.#chunks;
    while (this.#next < chunks.length && chunks[this.#next]!.byteLength === 0) this.#next++;
    if (this.#next === chunks.length) {
      this.#chunks = [];
      this.#inFrame = false;
      this.#need(4, (b) => this.#count(b));
      this.#o.frame(this.#peer, chunks);
      return;
    }
    this.#buf = chunks[this.#next++]!;
    this.#at = 0;
    this.#then = () => this.#chunk();
  }
}
