/**
 * The WebSocket transport: one authenticated connection per direction between two nodes
 * (each node sends on the connection it dialed and receives on any), and clients (which
 * do not listen) are answered on the connection they dialed.
 *
 * Semantics: frames to one peer arrive in the order they were sent. A frame made of
 * chunks is sent as one message of several fragments (no copy) and received as the list
 * of fragments; one whose chunks after the first reach `bulkMinBytes` goes on the bulk
 * lane to that peer when there is one (see `bulk.ts`), with an empty message in its
 * place on the WebSocket, and is passed up there. A peer is reported lost once, when
 * one of its connections closes or it stays silent past `peerTimeoutMs` (heartbeat pings
 * every `heartbeatMs`; a client peer gets at least 30 s), or when it cannot be dialed.
 * A heartbeat that comes late (this process was busy and has not read its sockets yet)
 * does not count the time it was late as silence. Frames for a lost peer are dropped.
 *
 * Invariants: no data frame is passed up before the connection is authenticated; a
 * malformed or oversized frame, a text frame after authentication, or a binary frame
 * before it, closes that connection with a logged reason and nothing it sent is applied.
 *
 * Not handled: reconnecting a lost peer (a node that comes back must rejoin with a new id).
 */
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { Socket } from 'node:net';
import { frameBytes } from '@quicksand/core';
import type { Frame, Transport, TransportHandlers } from '@quicksand/core';
import { WIRE_PROTOCOL, dialerProof, isAnswer, listenerProof, macEqual, nonce, protocolMismatch } from './auth.js';
import { BulkLanes } from './bulk.js';
import type { AuthRequest, Challenge, Welcome } from './auth.js';

/** Options of {@link WsTransport}. */
export interface WsTransportOptions {
  /** This endpoint's node or client id. */
  id: string;
  /** A node listens and can be dialed; a client only dials. */
  kind: 'node' | 'client';
  /** The cluster secret (at least 16 bytes). */
  secret: Uint8Array;
  /** Largest message accepted or sent, in bytes. @defaultValue 256 MiB */
  maxFrameBytes?: number;
  /** Heartbeat ping interval. @defaultValue 250 */
  heartbeatMs?: number;
  /** A peer silent this long is lost. @defaultValue 1000 */
  peerTimeoutMs?: number;
  /** Time allowed to complete the handshake. @defaultValue 5000 */
  handshakeTimeoutMs?: number;
  /** Where protocol problems are logged. @defaultValue stderr */
  log?: (line: string) => void;
  /** Extra data a node hands to peers that dial it (cluster bootstrap). */
  welcomeInfo?: () => unknown;
  /**
   * A frame whose out-of-band chunks (all but the first) add up to this many bytes goes
   * on the bulk lane, when the peer has one; `Infinity` keeps every frame on the
   * WebSocket. @defaultValue 256 KiB
   */
  bulkMinBytes?: number;
  /** Port of a node's bulk lane server, on the host it listens on; 0 picks a free one. @defaultValue 0 */
  bulkPort?: number;
  /** How long the event loop keeps polling after a batch frame (see {@link BUSY_POLL_MIN_BYTES}); 0 never polls. @defaultValue 0.2 */
  busyPollMs?: number;
}

interface Conn {
  ws: WebSocket;
  /** The TCP socket under `ws` (from the upgrade), corked around a frame of several chunks. */
  socket: Socket | null;
  peer: string | null;
  peerKind: 'node' | 'client' | null;
  outgoing: boolean;
  /** Dialing side: the URL dialed. */
  url: string | null;
  authed: boolean;
  lastSeen: number;
  queue: Frame[];
  myNonce: string;
  /** Dialing side: the id and nonce from the server's challenge, once answered. */
  theirId: string | null;
  theirNonce: string | null;
  /** Dialing side: the bulk lane port the node announced in its challenge (checked when dialed). */
  theirBulk: unknown;
  timer: NodeJS.Timeout | null;
  /** Dialing side: told the outcome of the handshake (used to join through a seed). */
  onWelcome: ((id: string, info: unknown) => void) | null;
  onFail: ((e: Error) => void) | null;
}

const HANDSHAKE_MAX = 4096;
/** Frames from one peer that may wait on the bulk lane for their place on the WebSocket. */
const LANE_AHEAD_MAX = 64;
/** WebSocket frames from one peer that may wait behind a bulk lane frame still to come. */
const WAITING_MAX = 65_536;
const EMPTY = Buffer.alloc(0);
/**
 * A frame up to this size is written as one WebSocket frame that this transport builds
 * itself, header and payload in one buffer, in one `write`: `ws.send` writes the header
 * and the payload as two chunks, which a corked socket gathers into a `writev` through
 * Node's buffered-write path, and that path costs more than the copy of a small payload.
 * Frames written past ws keep their order with the ones ws writes: ws holds a send back
 * only while it compresses a message or reads a Blob, and this transport does neither
 * (`perMessageDeflate: false`, bytes only), so every `ws.send` reaches the socket at once.
 */
const SMALL_FRAME_MAX = 16 * 1024;

/**
 * Frames from one peer in arrival order where the bulk lane is involved: `waiting` holds
 * WebSocket frames behind an empty message (`frame: null`, whose frame comes on the lane),
 * `lane` the lane's frames that arrived before their empty message.
 */
interface Inbound {
  waiting: Array<{ conn: Conn; frame: Frame | null }>;
  lane: Uint8Array[][];
}
/**
 * A node drops a silent client after this long (or `peerTimeoutMs`, if longer). A client
 * hosts nothing, and a dead one's connection closes anyway; one that is merely busy (a
 * long synchronous task in the user's process) would otherwise lose every node at once.
 */
const CLIENT_TIMEOUT_MS = 30_000;
/**
 * A frame at least this large is a batch (a hundred small calls or replies and more): the
 * sign of a pipelined stream, whose next frame is likely less than a frame's work away.
 *
 * After such a frame the transport keeps its event loop polling the sockets, without
 * sleeping, for `busyPollMs` (an immediate that queues itself again until then), as long
 * as its owner says it may (`pollWhile`: a node's compute workers are idle, so the poll
 * takes no CPU they would use). The next frame of the stream then finds this process
 * awake. Asleep, it would have to be woken, and on a VM whose other core is idle the
 * sender pays for that wake-up inside its `write` (~10 µs there, the interrupt to an idle
 * virtual CPU): 8-10% of a pipelining client's CPU at 256 calls a frame, measured, and
 * the wake-up's latency on top. Polling costs at most `busyPollMs` of one core after the
 * last frame of a stream. Small frames (single calls, heartbeats) never start a poll: a
 * sequential caller on the same core would wait for the poll to give the core back.
 */
const BUSY_POLL_MIN_BYTES = 1024;
/** Close code of a clean departure (the runtime closed first). */
const LEFT_CODE = 4100;

/** @internal The ws implementation of core's `Transport`. */
export class WsTransport implements Transport {
  /** This endpoint's id (a node started without an id takes its listen address once known). */
  self: string;
  readonly kind: 'node' | 'client';
  readonly maxFrameBytes: number;
  #url: string | null = null;
  readonly #secret: Uint8Array;
  readonly #heartbeatMs: number;
  readonly #peerTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #log: (line: string) => void;
  #welcomeInfo: () => unknown;
  #server: WebSocketServer | null = null;
  #handlers: TransportHandlers | null = null;
  readonly #early: Array<[string, Frame]> = [];
  readonly #addresses = new Map<string, string>();
  /** The connection each peer is sent to on. */
  readonly #send = new Map<string, Conn>();
  readonly #conns = new Set<Conn>();
  readonly #lost = new Set<string>();
  readonly #bulkMinBytes: number;
  readonly #bulkPortWanted: number;
  readonly #lanes: BulkLanes;
  #bulkPort: number | null = null;
  readonly #inbound = new Map<string, Inbound>();
  #heartbeat: NodeJS.Timeout | null = null;
  #lastBeat = Date.now();
  #closing = false;
  readonly #busyPollMs: number;
  /** `performance.now()` until which the loop polls (see {@link BUSY_POLL_MIN_BYTES}). */
  #pollUntil = 0;
  #polling = false;
  /** Whether a poll may start now; the node's says so while its compute workers are idle. */
  pollWhile: () => boolean = () => true;
  /** Counters for stats and tests (`busyPolls`: polls started after a batch frame). */
  readonly counters = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, rejected: 0, laneFramesIn: 0, laneFramesOut: 0, busyPolls: 0 };

  constructor(options: WsTransportOptions) {
    this.self = options.id;
    this.kind = options.kind;
    this.#secret = options.secret;
    this.maxFrameBytes = options.maxFrameBytes ?? 256 * 1024 * 1024;
    this.#heartbeatMs = options.heartbeatMs ?? 250;
    this.#peerTimeoutMs = options.peerTimeoutMs ?? 1000;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 5000;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.#welcomeInfo = options.welcomeInfo ?? (() => null);
    this.#bulkMinBytes = options.bulkMinBytes ?? 256 * 1024;
    this.#bulkPortWanted = options.bulkPort ?? 0;
    this.#busyPollMs = options.busyPollMs ?? 0.2;
    this.#lanes = new BulkLanes({
      self: () => this.self,
      secret: this.#secret,
      maxFrameBytes: this.maxFrameBytes,
      handshakeTimeoutMs: this.#handshakeTimeoutMs,
      log: this.#log,
      frame: (peer, frame) => this.#laneFrame(peer, frame),
      closed: (peer, broken) => this.#laneClosed(peer, broken),
    });
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  /** The `ws://host:port` this node listens on (nodes only, after {@link WsTransport.listenOn}). */
  get url(): string | null {
    return this.#url;
  }

  /** The port of this node's bulk lane server (nodes only, after {@link WsTransport.listenOn}). */
  get bulkPort(): number | null {
    return this.#bulkPort;
  }

  set welcomeInfo(fn: () => unknown) {
    this.#welcomeInfo = fn;
  }

  /**
   * Starts the server; resolves with the URL peers dial (port 0 picks a free port):
   * `advertise` replaces the host, and the port when it has one.
   */
  async listenOn(host: string, port: number, advertise?: { host: string; port: number | null }): Promise<string> {
    const server = new WebSocketServer({ host, port, maxPayload: this.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    server.on('error', (e) => this.#log(`quicksand: node ${this.self} server error: ${e.message}`));
    server.on('connection', (ws, req) => this.#accept(ws, req.socket));
    const addr = server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('server has no address');
    const shown = advertise?.host ?? addr.address;
    const h = shown.includes(':') ? `[${shown}]` : shown;
    this.#url = `ws://${h}:${advertise?.port ?? addr.port}`;
    this.#bulkPort = await this.#lanes.listen(host, this.#bulkPortWanted);
    return this.#url;
  }

  /** Records where a node peer can be dialed. */
  addPeer(id: string, url: string): void {
    if (id === this.self) return;
    this.#addresses.set(id, url);
  }

  /** Known peer addresses. */
  peers(): Array<[string, string]> {
    return [...this.#addresses];
  }

  listen(handlers: TransportHandlers): void {
    this.#handlers = handlers;
    for (const [from, frame] of this.#early.splice(0)) handlers.frame(from, frame);
  }

  send(to: string, frame: Frame): void {
    if (this.#closing || this.#lost.has(to)) return;
    let conn = this.#send.get(to);
    if (conn === undefined) {
      const url = this.#addresses.get(to);
      if (url === undefined) {
        this.#peerLost(to, `no address is known for ${to}`);
        return;
      }
      conn = this.#dial(url, to);
    }
    if (!conn.authed) {
      conn.queue.push(frame);
      return;
    }
    this.#write(conn, frame);
  }

  #write(conn: Conn, frame: Frame): void {
    const n = frameBytes(frame);
    if (n === 0) throw new RangeError('an empty frame cannot be sent (an empty message stands for a bulk lane frame)');
    this.counters.framesOut++;
    this.counters.bytesOut += n;
    if (Array.isArray(frame)) {
      if (frame.length > 1 && n - frame[0]!.byteLength >= this.#bulkMinBytes && this.#lanes.send(conn.peer!, frame)) {
        this.counters.laneFramesOut++;
        conn.ws.send(EMPTY, { binary: true });
        return;
      }
      // One message of several fragments, written in one system call: each `send` writes
      // its fragment at once unless the socket is corked (a write costs tens of µs here).
      const last = frame.length - 1;
      conn.socket?.cork();
      try {
        for (let i = 0; i < frame.length; i++) conn.ws.send(frame[i]!, { binary: true, fin: i === last });
      } finally {
        conn.socket?.uncork();
      }
    } else if (frame.byteLength > SMALL_FRAME_MAX || conn.socket === null || conn.ws.readyState !== WebSocket.OPEN) {
      conn.ws.send(frame, { binary: true });
    } else {
      conn.socket.write(smallFrame(frame, conn.outgoing));
    }
  }

  /**
   * Dials a node by URL, authenticates, and resolves with its id and welcome info.
   * Used to join a cluster through any of its nodes.
   */
  async dialSeed(url: string): Promise<{ id: string; info: unknown }> {
    const conn = this.#dial(url, null);
    return await new Promise((resolve, reject) => {
      conn.onWelcome = (id, info) => {
        conn.onFail = null;
        resolve({ id, info });
      };
      conn.onFail = reject;
    });
  }

  #dial(url: string, expected: string | null): Conn {
    const ws = new WebSocket(url, {
      maxPayload: this.maxFrameBytes,
      perMessageDeflate: false,
      // A zero mask: ws then skips masking the payload in JavaScript (~10 ms per MiB).
      generateMask: () => undefined,
      handshakeTimeout: this.#handshakeTimeoutMs,
    });
    const conn = this.#connection(ws, url, expected);
    ws.once('upgrade', (res) => {
      conn.socket = res.socket;
    });
    if (expected !== null) this.#send.set(expected, conn);
    return conn;
  }

  #accept(ws: WebSocket, socket: Socket): void {
    const conn = this.#connection(ws, null, null);
    conn.socket = socket;
    const hello: Challenge = { t: 'challenge', v: WIRE_PROTOCOL, id: this.self, nonce: conn.myNonce, ...(this.#bulkPort !== null ? { bulk: this.#bulkPort } : {}) };
    ws.send(JSON.stringify(hello));
  }

  /** Tracks a new connection, dialed (`url`, perhaps the peer `expected`) or accepted (`url` null), until its handshake ends. */
  #connection(ws: WebSocket, url: string | null, expected: string | null): Conn {
    ws.binaryType = 'fragments';
    const outgoing = url !== null;
    const conn: Conn = { ws, socket: null, peer: expected, peerKind: outgoing ? 'node' : null, outgoing, url, authed: false, lastSeen: Date.now(), queue: [], myNonce: nonce(), theirId: null, theirNonce: null, theirBulk: null, timer: null, onWelcome: null, onFail: null };
    this.#conns.add(conn);
    conn.timer = setTimeout(() => this.#drop(conn, 'handshake timed out'), this.#handshakeTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(conn, data, isBinary));
    ws.on('pong', () => {
      conn.lastSeen = Date.now();
    });
    ws.on('error', (e) => this.#onError(conn, e));
    ws.on('close', (code, reason) => this.#onClose(conn, code, reason.toString()));
    return conn;
  }

  #onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if (conn.authed) {
      if (!isBinary) {
        this.#drop(conn, 'text frame after authentication');
        return;
      }
      const frame = Array.isArray(data) ? data : [data instanceof ArrayBuffer ? new Uint8Array(data) : data];
      const from = conn.peer!;
      const bytes = frameBytes(frame);
      if (bytes === 0) {
        // The frame in this place comes on the bulk lane.
        if (!this.#lanes.receives(from)) {
          this.#drop(conn, 'an empty frame (and no bulk lane from this peer)');
          return;
        }
        this.#inboundOf(from).waiting.push({ conn, frame: null });
        this.#pump(from);
        return;
      }
      this.counters.framesIn++;
      this.counters.bytesIn += bytes;
      if (bytes >= BUSY_POLL_MIN_BYTES && this.#busyPollMs > 0) this.#keepPolling();
      const q = this.#inbound.get(from);
      if (q === undefined || q.waiting.length === 0) this.#deliver(conn, from, frame);
      else if (q.waiting.length < WAITING_MAX) q.waiting.push({ conn, frame });
      else this.#peerLost(from, `${WAITING_MAX} frames wait behind a bulk lane frame that does not come`);
      return;
    }
    if (isBinary) {
      this.#drop(conn, 'binary frame before authentication');
      return;
    }
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    if (bytes.byteLength > HANDSHAKE_MAX) {
      this.#drop(conn, 'oversized handshake message');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.#drop(conn, 'handshake message is not JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      this.#drop(conn, 'handshake message is not an object');
      return;
    }
    if (conn.outgoing) this.#clientHandshake(conn, msg as Record<string, unknown>);
    else this.#serverHandshake(conn, msg as Record<string, unknown>);
  }

  /** Polls until `busyPollMs` from now, if the owner allows (see {@link BUSY_POLL_MIN_BYTES}). */
  #keepPolling(): void {
    if (this.#closing || !this.pollWhile()) return;
    this.#pollUntil = performance.now() + this.#busyPollMs;
    if (this.#polling) return;
    this.#polling = true;
    this.counters.busyPolls++;
    setImmediate(this.#poll);
  }

  #poll = (): void => {
    if (!this.#closing && performance.now() < this.#pollUntil) setImmediate(this.#poll);
    else this.#polling = false;
  };

  #deliver(conn: Conn, from: string, frame: Frame): void {
    if (this.#handlers === null) {
      this.#early.push([from, frame]);
      return;
    }
    try {
      this.#handlers.frame(from, frame);
    } catch (e) {
      // The runtime validates every frame; this guards the node against anything it missed.
      this.#drop(conn, `frame could not be handled: ${(e as Error).message}`);
    }
  }

  #inboundOf(peer: string): Inbound {
    let q = this.#inbound.get(peer);
    if (q === undefined) {
      q = { waiting: [], lane: [] };
      this.#inbound.set(peer, q);
    }
    return q;
  }

  /** Passes up `peer`'s frames in order, as far as the bulk lane's frames have come. */
  #pump(peer: string): void {
    const q = this.#inbound.get(peer);
    if (q === undefined) return;
    while (q.waiting.length > 0) {
      const head = q.waiting[0]!;
      let frame = head.frame;
      if (frame === null) {
        frame = q.lane.shift() ?? null;
        if (frame === null) return;
      }
      q.waiting.shift();
      this.#deliver(head.conn, peer, frame);
      if (this.#inbound.get(peer) !== q) return; // the peer was lost meanwhile
    }
  }

  #laneFrame(peer: string, frame: Uint8Array[]): void {
    this.counters.framesIn++;
    this.counters.laneFramesIn++;
    this.counters.bytesIn += frameBytes(frame);
    const q = this.#inboundOf(peer);
    q.lane.push(frame);
    if (q.lane.length > LANE_AHEAD_MAX) {
      this.#log(`quicksand: ${this.self}: ${peer} sent ${q.lane.length} bulk lane frames without their places on the WebSocket; considered lost`);
      this.#peerLost(peer, 'bulk lane frames without their places');
      return;
    }
    this.#pump(peer);
  }

  #laneClosed(peer: string, broken: boolean): void {
    const q = this.#inbound.get(peer);
    const owed = q === undefined ? 0 : q.waiting.filter((w) => w.frame === null).length - q.lane.length;
    if (broken || owed > 0) this.#peerLost(peer, 'its bulk lane closed in the middle of a frame');
  }

  /** Dials `peer`'s bulk lane (to receive on it), given a URL on its host and the lane's port. */
  #dialLane(peer: string, url: string, port: unknown): void {
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) return;
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      return;
    }
    if (host.startsWith('[')) host = host.slice(1, -1);
    this.#lanes.dial(peer, host, port);
  }

  /** Dialing side: answer the challenge, then check the welcome. */
  #clientHandshake(conn: Conn, msg: Record<string, unknown>): void {
    if (msg.t === 'challenge' && conn.theirId === null) {
      if (typeof msg.id !== 'string' || typeof msg.nonce !== 'string' || msg.nonce.length > 128) {
        this.#drop(conn, 'malformed challenge');
        return;
      }
      if (conn.peer !== null && conn.peer !== msg.id) {
        this.#drop(conn, `dialed ${conn.peer} but ${msg.id} answered`);
        return;
      }
      const mismatch = protocolMismatch(`node ${msg.id}`, msg.v);
      if (mismatch !== null) {
        this.#drop(conn, mismatch);
        return;
      }
      conn.theirId = msg.id;
      conn.theirNonce = msg.nonce;
      conn.theirBulk = msg.bulk;
      const auth: AuthRequest = {
        t: 'auth',
        v: WIRE_PROTOCOL,
        id: this.self,
        kind: this.kind,
        address: this.#url,
        ...(this.#bulkPort !== null ? { bulk: this.#bulkPort } : {}),
        nonce: conn.myNonce,
        mac: dialerProof(this.#secret, '', msg.nonce, conn.myNonce, this.self, msg.id),
      };
      conn.ws.send(JSON.stringify(auth));
      return;
    }
    const id = conn.theirId;
    if (msg.t === 'welcome' && id !== null && conn.theirNonce !== null) {
      const expected = listenerProof(this.#secret, '', conn.myNonce, conn.theirNonce, id, this.self);
      if (msg.id !== id || !macEqual(msg.mac, expected)) {
        this.#drop(conn, 'the server failed authentication (wrong cluster secret?)');
        return;
      }
      this.#authed(conn, id);
      if (!this.#send.has(id)) this.#send.set(id, conn);
      if (conn.url !== null) this.#dialLane(id, conn.url, conn.theirBulk);
      conn.onWelcome?.(id, (msg as unknown as Welcome).info);
      return;
    }
    this.#drop(conn, `unexpected handshake message '${String(msg.t)}'`);
  }

  /** Listening side: check the answer, then welcome. */
  #serverHandshake(conn: Conn, msg: Record<string, unknown>): void {
    if (!isAnswer(msg) || (msg.kind !== 'node' && msg.kind !== 'client')) {
      this.#drop(conn, 'malformed authentication message');
      return;
    }
    const m = msg as typeof msg & Pick<AuthRequest, 'kind'> & Partial<AuthRequest>;
    const expected = dialerProof(this.#secret, '', conn.myNonce, m.nonce, m.id, this.self);
    if (!macEqual(m.mac, expected)) {
      this.#drop(conn, `peer '${m.id}' failed authentication (wrong cluster secret)`);
      return;
    }
    if (m.id === this.self) {
      this.#drop(conn, 'peer claims this node\'s own id');
      return;
    }
    const mismatch = protocolMismatch(`${m.kind} ${m.id}`, m.v);
    if (mismatch !== null) {
      this.#drop(conn, mismatch);
      return;
    }
    conn.peerKind = m.kind;
    if (m.kind === 'node' && typeof m.address === 'string') this.addPeer(m.id, m.address);
    this.#lost.delete(m.id);
    const welcome: Welcome = { t: 'welcome', id: this.self, mac: listenerProof(this.#secret, '', m.nonce, conn.myNonce, this.self, m.id), info: this.#welcomeInfo() };
    conn.ws.send(JSON.stringify(welcome));
    this.#authed(conn, m.id);
    // Clients cannot be dialed: answer them on their own connection.
    if (m.kind === 'client') this.#send.set(m.id, conn);
    else if (typeof m.address === 'string') this.#dialLane(m.id, m.address, m.bulk);
  }

  #authed(conn: Conn, peer: string): void {
    conn.peer = peer;
    conn.authed = true;
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    for (const f of conn.queue.splice(0)) this.#write(conn, f);
  }

  #onError(conn: Conn, e: Error): void {
    conn.onFail?.(e);
    if (!this.#closing) this.#log(`quicksand: ${this.self}: connection ${conn.peer !== null ? `with ${conn.peer} ` : ''}failed: ${e.message}`);
  }

  #onClose(conn: Conn, code: number, reason: string): void {
    this.#conns.delete(conn);
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.onFail?.(new Error(`connection closed before authentication (${code}${reason ? `: ${reason}` : ''})`));
    if (this.#closing) return;
    const peer = conn.peer;
    if (peer === null) return;
    if (!conn.authed && !conn.outgoing) return;
    if (this.#send.get(peer) === conn) this.#send.delete(peer);
    // A peer that closes with LEFT_CODE closed its runtime first: what it did not answer, it never ran.
    this.#peerLost(peer, conn.authed ? `connection closed (${code}${reason ? `: ${reason}` : ''})` : `cannot connect (${code}${reason ? `: ${reason}` : ''})`, code === LEFT_CODE);
  }

  /** Closes a connection because of a protocol problem, with a logged reason. */
  #drop(conn: Conn, reason: string): void {
    this.counters.rejected++;
    this.#log(`quicksand: ${this.self} closed a connection${conn.peer !== null ? ` with ${conn.peer}` : ''}: ${reason}`);
    conn.onFail?.(new Error(reason));
    try {
      conn.ws.close(4000, closeReason(reason));
    } catch {
      conn.ws.terminate();
    }
    // A peer that does not finish closing is cut off.
    setTimeout(() => conn.ws.terminate(), 1000).unref();
  }

  disconnect(peer: string, reason: string): void {
    for (const conn of this.#conns) if (conn.peer === peer) this.#drop(conn, reason);
  }

  #peerLost(peer: string, reason: string, left = false): void {
    if (this.#lost.has(peer)) return;
    this.#lost.add(peer);
    this.#send.delete(peer);
    this.#inbound.delete(peer);
    this.#lanes.drop(peer);
    for (const conn of this.#conns) if (conn.peer === peer) conn.ws.terminate();
    const h = this.#handlers;
    if (h !== null) setImmediate(() => h.peerLost(peer, reason, left));
  }

  #beat(): void {
    const now = Date.now();
    // A beat that comes late means this process was busy (a long synchronous task, a GC
    // pause) and what peers sent meanwhile is still unread: timers run before the event
    // loop reads sockets. The time this process was away does not count as their silence.
    const away = Math.max(0, now - this.#lastBeat - this.#heartbeatMs);
    this.#lastBeat = now;
    const clientLimit = Math.max(this.#peerTimeoutMs, CLIENT_TIMEOUT_MS);
    for (const conn of this.#conns) {
      if (!conn.authed) continue;
      const limit = conn.peerKind === 'client' ? clientLimit : this.#peerTimeoutMs;
      if (now - conn.lastSeen - away > limit) {
        this.#log(`quicksand: ${this.self}: ${conn.peer ?? 'a peer'} silent for ${now - conn.lastSeen} ms; considered lost`);
        conn.ws.terminate();
        continue;
      }
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.ping();
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    const closed = [...this.#conns].map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
          conn.ws.once('close', () => resolve());
          conn.ws.close(LEFT_CODE, 'left');
          setTimeout(() => {
            conn.ws.terminate();
            resolve();
          }, 500).unref();
        }),
    );
    await Promise.all(closed);
    // After the WebSockets: a peer then sees this node leave before its lanes close.
    await this.#lanes.close();
    const server = this.#server;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A close reason within the WebSocket limit of 123 bytes of UTF-8. */
function closeReason(reason: string): string {
  const b = Buffer.from(reason, 'utf8');
  if (b.byteLength <= 120) return reason;
  return b.subarray(0, 117).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

/**
 * A complete binary WebSocket frame (RFC 6455, section 5.2) holding `payload`, of at most
 * 65,535 bytes. A dialer's frames must be masked: it uses the zero mask, as `ws` does with
 * the `generateMask` this transport gives it, so the payload goes out as it is.
 */
function smallFrame(payload: Uint8Array, masked: boolean): Buffer {
  const n = payload.byteLength;
  const at = (n < 126 ? 2 : 4) + (masked ? 4 : 0);
  const out = Buffer.allocUnsafe(at + n);
  out[0] = 0x82; // FIN, opcode 2 (binary)
  if (n < 126) {
    out[1] = (masked ? 0x80 : 0) | n;
  } else {
    out[1] = (masked ? 0x80 : 0) | 126;
    out.writeUInt16BE(n, 2);
  }
  if (masked) out.writeUInt32LE(0, at - 4);
  out.set(payload, at);
  return out;
}
