/**
 * The runtime of one node (or of a client that hosts nothing): it holds the node's
 * proclets, routes calls (local fast path or RPC), batches messages per peer, serves
 * calls from other nodes, and carries out the source and target halves of a migration.
 *
 * Semantics callers may rely on:
 * - Every call is executed at most once, and exactly once unless its node is lost: a node
 *   runs a call only while it holds the proclet ACTIVE; a call that reaches a node which
 *   does not (any more) hold the proclet is answered MOVED without running, and the caller
 *   re-sends it, with the same call id, to the new place.
 * - Calls that arrive while the proclet migrates queue on the source and are answered
 *   MOVED once the target holds it (or run in place if the migration fails).
 * - Messages to one peer keep their order; all messages queued for a peer in one tick go
 *   out as one frame (per-peer batching, at most BATCH_MAX calls or replies). Within a
 *   frame, consecutive calls to the same proclet and method travel as one run (MSG_CALLS:
 *   the ids and method once, then a column of call ids and one of argument lists), and
 *   consecutive results as one MSG_OKS (a column of ids, one of values), so a pipelined
 *   stream of calls costs little more than its arguments: no array per call or reply is
 *   built, encoded or decoded.
 *
 * Invariants: `pending` holds exactly the calls this runtime sent and has no answer for;
 * a proclet id is ACTIVE on at most one node at a time (the source turns GONE only after
 * the target confirmed it holds the state).
 *
 * Not handled: retransmission after a lost frame (the transport is reliable or reports the
 * peer lost); a call in flight to a node that dies is failed with NodeLostError even if it
 * ran there.
 */
import { EventEmitter } from 'node:events';
import type { Cluster } from './cluster.js';
import { frameBytes, primitivesOnly, releaseFrame } from './codec.js';
import type { Codec, Frame } from './codec.js';
import {
  ClosedError,
  MemoryBudgetError,
  MigrationError,
  NodeLostError,
  ProcletNotFoundError,
  CodecError,
  UnknownTypeError,
  CapacityError,
  fromWireError,
  toWireError,
} from './errors.js';
import { formatBytes } from './options.js';
import { CONTEXT, lookupType, resolveType } from './proclet.js';
import type { ProcletContext, ProcletType } from './proclet.js';
import { Ref } from './ref.js';
import { PendingCall, PendingTable } from './pending.js';
import { atWallClock } from './capacity.js';
import type { Pending } from './pending.js';
import { ACTIVE, GONE, MIGRATING, Slot } from './slot.js';
import type { Transport } from './transport.js';
import { WorkerPool } from './workers.js';
import type { RunTaskOptions, TaskSpec } from './workers.js';

/**
 * Message kinds on the wire. Each message is an array whose first element is its kind.
 * A change to the kinds or their shapes changes the wire: bump `WIRE_PROTOCOL` in
 * `@quicksand/net` with it, so ends of different versions refuse each other at once.
 */
export const MSG_CALL = 1; // [1, callId, procletId, method, args]
export const MSG_OK = 2; // [2, callId, value]
export const MSG_ERR = 3; // [3, callId, wireError]
export const MSG_MOVED = 4; // [4, callId, procletId, node | null]
export const MSG_EVENT = 5; // [5, topic, payload]
/**
 * Consecutive calls to one proclet and method (pipelined calls mostly are), in order: the
 * proclet id and method are sent once, then the calls' ids and argument lists as columns.
 */
export const MSG_CALLS = 7; // [7, procletId, method, callId[], args[]]
/** Consecutive successful results, in order, as a column of call ids and one of values. */
export const MSG_OKS = 8; // [8, callId[], value[]]

/** Id of the controller proclet. */
export const CONTROLLER_ID = '@controller';

/**
 * Event topics every node and client hears, listened to or not: the kernel acts on them
 * (a lost node's proclets are forgotten, a joined node's address is learned). Every other
 * topic goes only to the runtimes that listen to it (see `Controller.listen`).
 */
export const MEMBERSHIP_TOPICS: ReadonlySet<string> = new Set(['nodeJoined', 'nodeLost']);

/** Id of the agent proclet of a node. */
export const agentId = (node: string): string => `@${node}`;

const MAX_HOPS = 32;
const RESOLVED = Promise.resolve();
/**
 * The call whose promise `new Promise(fillResolvers)` is making: the executor stores the
 * promise's resolving functions into it. One executor shared by every remote call, where a
 * closure per call would cost an allocation (and its context) on the pipelined path; and
 * stores into the new call, where stores into module variables (old objects, to the
 * collector) each paid a write barrier.
 */
let filling: PendingCall | null = null;
function fillResolvers(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  filling!.resolve = resolve;
  filling!.reject = reject;
}

/** A remote call's promise, its resolving functions stored into `call`. */
function promiseOf(call: PendingCall): Promise<unknown> {
  filling = call;
  const promise = new Promise(fillResolvers);
  filling = null;
  return promise;
}
/**
 * A peer's batch is sent as soon as it holds this many calls or replies, without waiting
 * for the end of the tick: the receiver starts on it while this side keeps producing, so
 * the two processes overlap instead of taking turns. 256 beat 128, 192 and 384 in the net
 * benchmark's pipelined calls (1000 in flight); 512 left too few frames in flight.
 */
const BATCH_MAX = 256;
const MAX_TOMBSTONES = 100_000;
const DESTROYED = '';

/** @internal Budget of a node; `null` for a client runtime that hosts nothing. */
export interface NodeBudget {
  cpus: number;
  memory: number;
}

/** @internal */
export interface RuntimeOptions {
  id: string;
  transport: Transport;
  codec: Codec;
  /** Node that hosts the controller. */
  controllerNode: string;
  budget: NodeBudget | null;
  /** Cores the node's compute workers pin themselves to (Linux; see `affinity.ts`). */
  pinWorkers?: string;
  /** Log sink for protocol problems; default `process.emitWarning`. */
  log?: (message: string) => void;
}


/** @internal Result of the source half of a migration. */
export interface MigrateOutResult {
  bytes: number;
  blockingMs: number;
  saveMs: number;
  transferMs: number;
  size: number;
}

/** @internal Usage a node reports. */
export interface NodeUsage {
  node: string;
  cpus: number;
  memory: number;
  memoryUsed: number;
  cpusBusy: number;
  tasksQueued: number;
  tasksCompleted: number;
  workerBusyMs: number;
  proclets: number;
}

/** @internal */
export class Runtime {
  readonly id: string;
  readonly codec: Codec;
  /** The node hosting the controller (known once the node has joined). */
  controllerNode: string;
  readonly budget: NodeBudget | null;
  readonly transport: Transport;
  readonly #closeHooks: Array<() => void> = [];
  readonly #capacityTimers = new Set<{ cancel(): void }>();
  /** Called when the node has left after a drain (the daemon exits). */
  onLeave: (() => void) | null = null;
  /** The cluster as seen from this runtime. */
  facade!: Cluster;
  readonly #slots = new Map<string, Slot>();
  readonly #tombstones = new Map<string, string>();
  readonly #locations = new Directory();
  readonly #locating = new Map<string, Promise<string>>();
  readonly #pending = new PendingTable();
  /**
   * One box per peer, kept for the peer's lifetime and emptied in place: see {@link Box}
   * for why boxes are not made per frame.
   */
  readonly #boxes = new Map<string, Box>();
  /** Boxes with messages to send at the next flush: `#listed[0 .. #listedCount)`. */
  readonly #listed: Box[] = [];
  #listedCount = 0;
  #lastNode = '';
  #lastBox: Box | undefined = undefined;
  readonly #lost = new Map<string, string>();
  #flushScheduled = false;
  #closed = false;
  #workers: WorkerPool | null = null;
  readonly #pinWorkers: string | null;
  #log: (message: string) => void;
  /** Events pushed by the controller, for every cluster view of this runtime. */
  readonly events = new EventEmitter();
  /** Topics (other than membership) the controller sends here: this runtime listens to them, or did. */
  readonly #topics = new Set<string>();
  /** Hook the controller installs to hear about lost peers. */
  onPeerLost: ((peer: string, reason: string) => void) | null = null;
  /** Sizes changed since the last report to the controller. */
  readonly #dirtySizes = new Set<Slot>();
  #sizeTimer: NodeJS.Timeout | null = null;
  /** Stats of this runtime's traffic. */
  readonly counters = { callsSent: 0, callsServed: 0, moved: 0, framesSent: 0, bytesSent: 0, eventsIn: 0 };

  constructor(options: RuntimeOptions) {
    this.id = options.id;
    this.codec = options.codec;
    this.controllerNode = options.controllerNode;
    this.budget = options.budget;
    this.#pinWorkers = options.pinWorkers ?? null;
    this.transport = options.transport;
    this.#log = options.log ?? ((m) => process.emitWarning(m));
    this.transport.listen({
      frame: (from, bytes) => this.#onFrame(from, bytes),
      peerLost: (peer, reason, left) => this.#onPeerLost(peer, reason, left),
    });
    this.events.on('newListener', (topic: string | symbol) => {
      if (typeof topic !== 'string' || topic === 'newListener' || topic === 'removeListener') return;
      if (MEMBERSHIP_TOPICS.has(topic) || this.#topics.has(topic)) return;
      this.#topics.add(topic);
      this.#tellListening(topic, true);
    });
  }

  /**
   * Tells the controller this runtime listens to `topic`, or no longer does. The message
   * goes ahead of any call made after it, so an event caused by a later call (a
   * migration, a capacity change) is heard.
   */
  #tellListening(topic: string, on: boolean): void {
    if (this.#closed) return;
    this.invoke(CONTROLLER_ID, 'listen', [this.id, topic, on]).catch((e: unknown) => {
      if (this.#closed || !on) return;
      // Asked again with the next listener for this topic.
      this.#topics.delete(topic);
      this.#log(`quicksand: ${this.id} could not subscribe to '${topic}' events: ${(e as Error).message}`);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- refs and calls

  ref<T extends object>(id: string): Ref<T> {
    const ref = new Ref<T>(this, id);
    const slot = this.#slots.get(id);
    if (slot !== undefined && slot.state === ACTIVE) Ref.attach(ref, slot);
    return ref;
  }

  /** Calls a proclet by id without a Ref. */
  invoke(pid: string, method: string, args: unknown[]): Promise<unknown> {
    const slot = this.#slots.get(pid);
    if (slot !== undefined && slot.state === ACTIVE) return slot.invoke(method, args);
    return this.#route(pid, method, args, null);
  }

  callSlow(ref: Ref, method: string, args: unknown[]): Promise<unknown> {
    // A remote proclet this ref called before, nothing placed or lost since: straight to
    // the box of its node (see Directory).
    const placed = Ref.placed(ref, this.#locations.epoch) as Box | undefined;
    if (placed !== undefined) return this.#sendIn(placed, ref.id, method, args, 0);
    return this.#callUnplaced(ref, method, args);
  }

  /**
   * {@link callSlow} without a place the ref keeps. Apart, so the pipelined path above stays
   * small enough for the optimizing compiler to inline whole into the caller's loop.
   */
  #callUnplaced(ref: Ref, method: string, args: unknown[]): Promise<unknown> {
    // A client hosts nothing: no lookup.
    const slot = this.#slots.size === 0 ? undefined : this.#slots.get(ref.id);
    if (slot !== undefined && slot.state === ACTIVE) {
      Ref.attach(ref, slot);
      return slot.invoke(method, args);
    }
    if (slot === undefined && !this.#closed) {
      // The common remote case: one location lookup, straight to the wire.
      const node = this.#locationOf(ref.id);
      if (node !== undefined) {
        if (node !== this.id && !this.#lost.has(node)) Ref.place(ref, this.#box(node), this.#locations.epoch);
        return this.#send(ref.id, method, args, node, 0);
      }
    }
    return this.#route(ref.id, method, args, ref);
  }

  #route(pid: string, method: string, args: unknown[], ref: Ref | null): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const slot = this.#slots.get(pid);
    if (slot !== undefined) {
      if (slot.state === ACTIVE) {
        if (ref !== null) Ref.attach(ref, slot);
        return slot.invoke(method, args);
      }
      if (slot.state === MIGRATING) {
        return new Promise((resolve, reject) => {
          slot.localQueue.push(() => {
            this.#route(pid, method, args, ref).then(resolve, reject);
          });
        });
      }
    }
    if (ref !== null) Ref.attach(ref, null);
    const node = this.#locationOf(pid);
    if (node !== undefined) return this.#send(pid, method, args, node, 0);
    return this.locate(pid).then((n) => this.#send(pid, method, args, n, 0));
  }

  #locationOf(pid: string): string | undefined {
    if (pid.charCodeAt(0) === 64 /* @ */) return pid === CONTROLLER_ID ? this.controllerNode : pid.slice(1);
    return this.#locations.get(pid);
  }

  /** Asks the controller where a proclet is (deduplicated per id). */
  locate(pid: string): Promise<string> {
    const known = this.#locationOf(pid);
    if (known !== undefined) return Promise.resolve(known);
    let p = this.#locating.get(pid);
    if (p === undefined) {
      p = (this.invoke(CONTROLLER_ID, 'locate', [pid]) as Promise<string>).then(
        (node) => {
          this.#locating.delete(pid);
          if (node !== this.id || this.#slots.has(pid)) this.#locations.set(pid, node);
          return node;
        },
        (e: unknown) => {
          this.#locating.delete(pid);
          throw e;
        },
      );
      this.#locating.set(pid, p);
    }
    return p;
  }

  #send(pid: string, method: string, args: unknown[], node: string, hops: number): Promise<unknown> {
    if (node === this.id) return this.#sendToSelf(pid, method, args, hops);
    if (this.#lost.size !== 0 && this.#lost.has(node)) {
      // The cached place is gone; the proclet may have moved before (a drain): ask.
      this.#locations.delete(pid);
      if (hops > 0) return Promise.reject(this.#nodeLostError(node, this.#lost.get(node)!, [pid]));
      return this.locate(pid).then((n) => this.#send(pid, method, args, n, hops + 1));
    }
    return this.#sendIn(this.#box(node), pid, method, args, hops);
  }

  /** {@link #send} to a node that is not lost, through its box. */
  #sendIn(box: Box, pid: string, method: string, args: unknown[], hops: number): Promise<unknown> {
    const call = new PendingCall(pid, method, args, box.node, hops);
    const promise = promiseOf(call);
    const callId = this.#pending.add(call);
    this.counters.callsSent++;
    this.#enqueueCall(box, callId, pid, method, args);
    return promise;
  }

  /**
   * A location that names this node for a proclet this node does not hold: a `locate`
   * answer that raced a migration. Follow the tombstone when there is one, else ask the
   * controller again, shortly (its directory lags a migration by a moment).
   */
  #sendToSelf(pid: string, method: string, args: unknown[], hops: number): Promise<unknown> {
    const slot = this.#slots.get(pid);
    if (slot !== undefined && slot.state !== GONE) return this.#route(pid, method, args, null);
    if (this.#locations.get(pid) === this.id) this.#locations.delete(pid);
    const t = this.#tombstones.get(pid);
    if (t === DESTROYED) return Promise.reject(new ProcletNotFoundError(`proclet ${pid} was destroyed`, { data: { proclet: pid } }));
    if (t !== undefined) return this.#send(pid, method, args, t, hops + 1);
    if (hops >= MAX_HOPS) {
      return Promise.reject(new MigrationError(`call ${method} to proclet ${pid} could not find it after ${MAX_HOPS} tries; it is moving faster than calls can follow`, { data: { proclet: pid } }));
    }
    return new Promise<void>((r) => setTimeout(r, Math.min(50, 1 + hops * 2)))
      .then(() => this.locate(pid))
      .then((n) => this.#send(pid, method, args, n, hops + 1));
  }

  /** Sends a call that is still in the pending table (answered MOVED) to its new place. */
  #resend(callId: number, p: Pending, node: string): void {
    if (this.#pending.get(callId) !== p) return; // failed meanwhile (node lost, closed)
    const lost = this.#lost.get(node);
    if (lost !== undefined) {
      this.#pending.take(callId);
      p.reject(this.#nodeLostError(node, lost, [p.pid]));
      return;
    }
    if (node === this.id) {
      // The proclet moved here: run it locally (it is no longer pending on the wire).
      this.#pending.take(callId);
      this.#route(p.pid, p.method, p.args, null).then(p.resolve, p.reject);
      return;
    }
    const box = this.#box(node);
    p.node = box.node;
    this.#enqueueCall(box, callId, p.pid, p.method, p.args);
  }

  // ---------------------------------------------------------------- wire

  #box(node: string): Box {
    // Most ticks talk to one peer: remember its box.
    let box = node === this.#lastNode ? this.#lastBox : this.#boxes.get(node);
    if (box === undefined) {
      box = new Box(node);
      this.#boxes.set(node, box);
    }
    this.#lastNode = node;
    this.#lastBox = box;
    return box;
  }

  #enqueue(node: string, msg: unknown[]): void {
    const box = this.#box(node);
    box.msgs.push(msg);
    box.tail = null;
    box.plain = false; // errors, events and moves: not worth a look
    this.#queued(box);
  }

  #enqueueCall(box: Box, callId: number, pid: string, method: string, args: unknown[]): void {
    if (box.plain && !primitivesOnly(args)) box.plain = false;
    const t = box.tail;
    if (t !== null && t[0] === MSG_CALLS && t[1] === pid && t[2] === method) {
      // The pipelined case, kept apart from the others to stay small (see Ref.call).
      (t[3] as number[]).push(callId);
      (t[4] as unknown[][]).push(args);
      this.#queued(box);
    } else {
      this.#enqueueCallNew(box, t, callId, pid, method, args);
    }
  }

  /** {@link #enqueueCall} of a call that does not extend the run at the box's tail. */
  #enqueueCallNew(box: Box, t: unknown[] | null, callId: number, pid: string, method: string, args: unknown[]): void {
    if (t !== null && t[0] === MSG_CALL && t[2] === pid && t[3] === method) {
      // The second call of a run: the single call becomes a run.
      const run = [MSG_CALLS, pid, method, [t[1], callId], [t[4], args]];
      box.msgs[box.msgs.length - 1] = run;
      box.tail = run;
    } else {
      const m = [MSG_CALL, callId, pid, method, args];
      box.msgs.push(m);
      box.tail = m;
    }
    this.#queued(box);
  }

  /** Queues a call's result for the node that called. */
  #enqueueOk(node: string, callId: number, value: unknown): void {
    const box = this.#box(node);
    if (value !== null && typeof value === 'object') box.plain = false;
    const t = box.tail;
    if (t !== null && t[0] === MSG_OKS) {
      (t[1] as number[]).push(callId);
      (t[2] as unknown[]).push(value);
    } else if (t !== null && t[0] === MSG_OK) {
      const run = [MSG_OKS, [t[1], callId], [t[2], value]];
      box.msgs[box.msgs.length - 1] = run;
      box.tail = run;
    } else {
      const m = [MSG_OK, callId, value];
      box.msgs.push(m);
      box.tail = m;
    }
    this.#queued(box);
  }

  #queued(box: Box): void {
    if (++box.count >= BATCH_MAX) {
      this.#sendOut(box);
      return;
    }
    if (!box.listed) {
      box.listed = true;
      this.#listed[this.#listedCount++] = box;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // A microtask, but not queueMicrotask: Node wraps each of those in an AsyncResource.
      void RESOLVED.then(this.#flush);
    }
  }

  /** Sends a one-way event to a node. */
  sendEvent(node: string, topic: string, payload: unknown): void {
    if (node === this.id) {
      queueMicrotask(() => this.#emitEvent(topic, payload));
      return;
    }
    if (this.#lost.has(node)) return;
    this.#enqueue(node, [MSG_EVENT, topic, payload]);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    // Sending may queue more (an error reply for a result too big to send): those boxes
    // join the list and go out in this loop too.
    const listed = this.#listed;
    for (let i = 0; i < this.#listedCount; i++) {
      const box = listed[i]!;
      box.listed = false;
      if (box.count > 0) this.#sendOut(box); // else sent when it filled up (BATCH_MAX)
    }
    this.#listedCount = 0;
  };

  /** Sends what a box holds, which empties it. */
  #sendOut(box: Box): void {
    const plain = box.plain;
    this.#sendBox(box.node, box.take(), plain);
  }

  /** Sends a box of messages; `plain` when they hold primitives and arrays of them only (see {@link Codec.encode}). */
  #sendBox(node: string, box: unknown[], plain: boolean): void {
    if (this.#lost.has(node)) {
      this.#failUnsendable(box, (id) => this.#nodeLostError(node, this.#lost.get(node) ?? 'lost', [id]));
      return;
    }
    let frame: Frame | null;
    try {
      frame = this.codec.encode(box, plain);
    } catch {
      frame = this.#encodeEach(node, expandRuns(box));
      if (frame === null) return;
    }
    const limit = this.transport.maxFrameBytes;
    if (limit !== undefined && frameBytes(frame) > limit) {
      if (box.length > 1 || isRun(box[0])) {
        // Too big together: send each message alone.
        for (const msg of expandRuns(box)) this.#sendOne(node, msg, limit);
        return;
      }
      this.#tooBig(node, box[0] as unknown[], frameBytes(frame), limit);
      return;
    }
    this.counters.framesSent++;
    this.counters.bytesSent += frameBytes(frame);
    this.transport.send(node, frame);
  }

  #sendOne(node: string, msg: unknown, limit: number): void {
    let frame: Frame | null;
    try {
      frame = this.codec.encode([msg]);
    } catch {
      frame = this.#encodeEach(node, [msg]);
      if (frame === null) return;
    }
    const n = frameBytes(frame);
    if (n > limit) {
      this.#tooBig(node, msg as unknown[], n, limit);
      return;
    }
    this.counters.framesSent++;
    this.counters.bytesSent += n;
    this.transport.send(node, frame);
  }

  /** A single message larger than the transport's frame limit: fail it with a clear error. */
  #tooBig(node: string, m: unknown[], bytes: number, limit: number): void {
    const err = new CodecError(`${describeMessage(m)} to node ${node} encodes to ${formatBytes(bytes)}, over the frame limit of ${formatBytes(limit)}; send less per call, or raise maxFrameBytes on every node`, {
      data: { node, bytes, limit },
    });
    if (m[0] === MSG_CALL) {
      this.#pending.take(m[1] as number)?.reject(err);
    } else if (m[0] === MSG_OK) {
      this.#enqueue(node, [MSG_ERR, m[1], toWireError(err)]);
    } else {
      this.#log(`quicksand: node ${this.id} dropped a message to ${node}: ${err.message}`);
    }
  }

  /** A batch failed to encode: find the messages that cannot be encoded and fail them alone. */
  #encodeEach(node: string, box: unknown[]): Frame | null {
    const good: unknown[] = [];
    for (const msg of box) {
      try {
        this.codec.encode(msg);
        good.push(msg);
      } catch (e) {
        const m = msg as unknown[];
        const err = new CodecError(`cannot send ${describeMessage(m)} to node ${node} with the ${this.codec.name} codec: ${(e as Error).message}`, { cause: e });
        if (m[0] === MSG_CALL) {
          this.#pending.take(m[1] as number)?.reject(err);
        } else if (m[0] === MSG_OK) {
          // The result cannot cross the wire: tell the caller why instead.
          good.push([MSG_ERR, m[1], toWireError(err)]);
        } else {
          this.#log(`quicksand: node ${this.id} dropped an unencodable message to ${node}: ${err.message}`);
        }
      }
    }
    return good.length === 0 ? null : this.codec.encode(good);
  }

  #failUnsendable(box: unknown[], mkErr: (pid: string) => Error): void {
    for (const msg of expandRuns(box)) {
      const m = msg as unknown[];
      if (m[0] === MSG_CALL) {
        const p = this.#pending.take(m[1] as number);
        p?.reject(mkErr(p.pid));
      }
    }
  }

  #onFrame(peer: string, frame: Frame): void {
    if (this.#closed) return;
    // The peer's id as its box holds it, the very string calls to it record: a reply then
    // matches its call by identity, not by comparing characters (see PendingTable.takeFrom).
    const from = this.#boxes.get(peer)?.node ?? peer;
    let msgs: unknown;
    try {
      msgs = this.codec.decode(frame);
    } catch (e) {
      this.transport.disconnect(from, `undecodable frame (${frameBytes(frame)} bytes): ${(e as Error).message}`);
      return;
    }
    if (!Array.isArray(msgs)) {
      this.transport.disconnect(from, 'frame is not a list of messages');
      return;
    }
    for (const m of msgs) {
      let problem: string | null;
      try {
        problem = this.#onMessage(from, m);
      } catch (e) {
        problem = `message could not be handled: ${(e as Error).message}`;
      }
      if (problem !== null) {
        this.transport.disconnect(from, problem);
        return;
      }
    }
  }

  /** Handles one message of a frame; returns a protocol problem, or null. */
  #onMessage(from: string, m: unknown): string | null {
    if (!Array.isArray(m)) return 'message is not a list';
    switch (m[0]) {
      case MSG_CALL: {
        const callId: unknown = m[1];
        const pid: unknown = m[2];
        const method: unknown = m[3];
        const args: unknown = m[4];
        if (typeof callId !== 'number' || typeof pid !== 'string' || typeof method !== 'string' || !Array.isArray(args)) return 'malformed call message';
        this.#serve(this.#slots.get(pid), from, callId, pid, method, args);
        return null;
      }
      case MSG_CALLS: {
        const pid: unknown = m[1];
        const method: unknown = m[2];
        const ids: unknown = m[3];
        const argsList: unknown = m[4];
        if (typeof pid !== 'string' || typeof method !== 'string' || !Array.isArray(ids) || !Array.isArray(argsList) || ids.length !== argsList.length) return 'malformed call run';
        // The whole run is checked before any of it runs.
        for (let i = 0; i < ids.length; i++) {
          if (typeof ids[i] !== 'number' || !Array.isArray(argsList[i])) return 'malformed call run';
        }
        // One proclet for the run: looked up once (a run's calls cannot move it, see #serve).
        const slot = this.#slots.get(pid);
        for (let i = 0; i < ids.length; i++) this.#serve(slot, from, ids[i] as number, pid, method, argsList[i] as unknown[]);
        return null;
      }
      case MSG_OKS: {
        const ids: unknown = m[1];
        const values: unknown = m[2];
        if (!Array.isArray(ids) || !Array.isArray(values) || ids.length !== values.length) return 'malformed reply run';
        for (let i = 0; i < ids.length; i++) {
          const callId: unknown = ids[i];
          if (typeof callId !== 'number') return 'malformed reply run';
          // A late or foreign reply finds nothing, and is ignored.
          this.#pending.takeFrom(callId, from)?.resolve(values[i]);
        }
        return null;
      }
      case MSG_OK:
      case MSG_ERR: {
        const callId = m[1] as unknown;
        if (typeof callId !== 'number') return 'malformed reply message';
        const p = this.#pending.takeFrom(callId, from);
        if (p === undefined) return null; // late or foreign reply: ignore
        if (m[0] === MSG_OK) p.resolve(m[2]);
        else p.reject(fromWireError(m[2], { node: from, proclet: p.pid, method: p.method }));
        return null;
      }
      case MSG_MOVED: {
        const [, callId, , node] = m as [number, unknown, unknown, unknown];
        if (typeof callId !== 'number' || (node !== null && typeof node !== 'string')) return 'malformed moved message';
        const p = this.#pending.get(callId);
        if (p === undefined || p.node !== from) return null;
        this.counters.moved++;
        this.#onMoved(callId, p, from, node);
        return null;
      }
      case MSG_EVENT: {
        if (typeof m[1] !== 'string') return 'malformed event message';
        this.#emitEvent(m[1], m[2]);
        return null;
      }
      default:
        return `unknown message kind ${String(m[0])}`;
    }
  }

  #emitEvent(topic: string, payload: unknown): void {
    if (topic === 'nodeLost') {
      const node = (payload as { node?: unknown } | null)?.node;
      if (typeof node === 'string' && node !== this.id) this.markLost(node, 'reported lost by the controller');
    }
    this.counters.eventsIn++;
    try {
      this.events.emit(topic, payload);
    } catch (e) {
      this.#log(`quicksand: a '${topic}' event listener threw: ${(e as Error).message}`);
    }
    // Nobody listens any more: stop the controller sending these. Dropped here, on the
    // first event nobody hears, rather than when the last listener goes, so a listener
    // taken off and put back (`once` after `once`) misses nothing in between.
    if (this.events.listenerCount(topic) === 0 && this.#topics.delete(topic)) this.#tellListening(topic, false);
  }

  #onMoved(callId: number, p: Pending, from: string, node: string | null): void {
    if (++p.hops > MAX_HOPS) {
      this.#pending.take(callId);
      p.reject(new MigrationError(`call ${p.method} to proclet ${p.pid} was redirected ${MAX_HOPS} times without reaching it; the proclet is moving faster than calls can follow`, { data: { proclet: p.pid } }));
      return;
    }
    if (this.#locations.get(p.pid) === from) this.#locations.delete(p.pid);
    if (node !== null && node !== from) {
      this.#locations.set(p.pid, node);
      this.#resend(callId, p, node);
      return;
    }
    // The node that answered does not know where the proclet went: ask the controller.
    // If the directory still names the same node (it lags a migration by a moment), back off.
    const delay = p.hops > 2 ? Math.min(50, p.hops * 2) : 0;
    const retry = (): void => {
      this.locate(p.pid).then(
        (n) => {
          this.#resend(callId, p, n);
        },
        (e: unknown) => {
          if (this.#pending.take(callId) === p) p.reject(e);
        },
      );
    };
    if (delay === 0) retry();
    else setTimeout(retry, delay);
  }

  /**
   * Serves a call to `pid`, whose slot here (if any) the caller looked up: a call can
   * change the slot's state (a method may start its migration) but not which slot this
   * node holds for the id, which only awaited steps of a migration or destroy change.
   */
  #serve(slot: Slot | undefined, from: string, callId: number, pid: string, method: string, args: unknown[]): void {
    if (slot !== undefined) {
      if (slot.state === ACTIVE) {
        this.counters.callsServed++;
        let r: unknown;
        try {
          r = slot.invokeRaw(method, args);
        } catch (e) {
          this.#enqueue(from, [MSG_ERR, callId, toWireError(e)]);
          return;
        }
        if (r instanceof Promise) {
          r.then(
            (v) => this.#enqueueOk(from, callId, v),
            (e: unknown) => this.#enqueue(from, [MSG_ERR, callId, toWireError(e)]),
          );
        } else {
          // A plain method's value: answered at once, no promise.
          this.#enqueueOk(from, callId, r);
        }
        return;
      }
      if (slot.state === MIGRATING) {
        slot.remoteQueue.push([from, callId, method, args]);
        return;
      }
    }
    const t = this.#tombstones.get(pid);
    if (t === DESTROYED) {
      this.#enqueue(from, [MSG_ERR, callId, toWireError(new ProcletNotFoundError(`proclet ${pid} was destroyed`, { data: { proclet: pid } }))]);
      return;
    }
    this.#enqueue(from, [MSG_MOVED, callId, pid, t ?? null]);
  }

  // ---------------------------------------------------------------- hosting

  get slots(): ReadonlyMap<string, Slot> {
    return this.#slots;
  }

  #checkHost(kind: string): void {
    if (this.budget === null) throw new CapacityError(`${this.id} is a client and hosts no proclets`);
    if (kind === 'compute' && this.budget.cpus === 0) throw new CapacityError(`node ${this.id} has no CPUs for a compute proclet`);
  }

  /** Hosts a new proclet. */
  async hostNew(id: string, typeName: string, module: string | undefined, args: unknown[]): Promise<void> {
    const type = await this.#type(typeName, module);
    this.#checkHost(type.kind);
    const instance = new type.ctor(...args);
    this.#install(id, type, instance, 0, false);
  }

  /** Hosts a system proclet (agent, controller) built by the caller. */
  hostSystem(id: string, type: ProcletType<object, unknown[]>, instance: object): void {
    this.#install(id, type, instance, 0, false);
  }

  /** Target half of a migration: rebuild the proclet from its encoded state. */
  async hostRestored(id: string, typeName: string, module: string | undefined, state: Frame, size: number, sizeReported: boolean): Promise<void> {
    // A type already loaded is taken at once: an await here would let whatever else is
    // queued on this node run inside the migration's blocking window.
    const type = lookupType(typeName) ?? (await this.#type(typeName, module));
    this.#checkHost(type.kind);
    const budget = this.budget!;
    const used = this.memoryUsed();
    if (type.kind === 'memory' && used + size > budget.memory) {
      throw new MemoryBudgetError(`node ${this.id} cannot take proclet ${id} (${formatBytes(size)}): it holds ${formatBytes(used)} of its ${formatBytes(budget.memory)} budget; pick another node or raise its memory`, {
        data: { node: this.id, proclet: id, size, used, budget: budget.memory },
      });
    }
    const existing = this.#slots.get(id);
    if (existing !== undefined && existing.state !== GONE) throw new MigrationError(`node ${this.id} already holds proclet ${id}`);
    const instance = type.restore(this.codec.decode(state));
    this.#install(id, type, instance, size, sizeReported);
  }

  async #type(name: string, module: string | undefined): Promise<ProcletType<object, unknown[]>> {
    let type: ProcletType<object, unknown[]> | undefined;
    try {
      type = await resolveType(name, module);
    } catch (e) {
      throw new UnknownTypeError(`node ${this.id} could not load proclet type '${name}' from ${module}: ${(e as Error).message}`, { cause: e });
    }
    if (type === undefined) {
      throw new UnknownTypeError(`node ${this.id} does not know proclet type '${name}'${module === undefined ? '; pass `module: import.meta.url` to defineProclet so nodes can load it' : ` (module ${module} did not register it)`}`, {
        data: { node: this.id, type: name },
      });
    }
    return type;
  }

  #install(id: string, type: ProcletType<object, unknown[]>, instance: object, size: number, sizeReported: boolean): void {
    const slot = new Slot(id, type, instance, this.id);
    slot.size = size;
    slot.sizeReported = sizeReported;
    Object.defineProperty(instance, CONTEXT, { value: new Context(this, slot), configurable: true, enumerable: false });
    this.#slots.set(id, slot);
    this.#tombstones.delete(id);
    this.#locations.set(id, this.id);
    if (size > 0) this.#markSize(slot);
  }

  /** Source half of a migration. */
  async migrateOut(id: string, to: string): Promise<MigrateOutResult> {
    const slot = this.#slots.get(id);
    if (slot === undefined || slot.state === GONE) {
      throw new ProcletNotFoundError(`node ${this.id} does not hold proclet ${id}`, { data: { node: this.id, proclet: id } });
    }
    if (slot.type.pinned) throw new MigrationError(`proclet ${id} (${slot.type.name}) is pinned to node ${this.id}`);
    if (slot.state === MIGRATING) throw new MigrationError(`proclet ${id} is already migrating`);
    if (to === this.id) return { bytes: 0, blockingMs: 0, saveMs: 0, transferMs: 0, size: slot.size };
    const t0 = performance.now();
    slot.state = MIGRATING;
    // Lets the proclet hand back work that waits (queued tasks) so it quiesces quickly.
    const hook = (slot.instance as { _onMigrate?: () => void })._onMigrate;
    if (typeof hook === 'function') {
      try {
        hook.call(slot.instance);
      } catch (e) {
        this.#log(`quicksand: _onMigrate of proclet ${id} threw: ${(e as Error).message}`);
      }
    }
    let state: Frame;
    let t1: number;
    try {
      // Not awaited when nothing runs: other queued work would run inside the window.
      if (slot.inflight > 0) await slot.quiesce();
      t1 = performance.now();
      state = this.codec.encode(slot.type.save(slot.instance));
    } catch (e) {
      this.#resume(slot);
      throw new MigrationError(`proclet ${id} could not be saved for migration, so it stays on ${this.id}: ${(e as Error).message}`, { cause: e, data: { proclet: id, from: this.id, to } });
    }
    const t2 = performance.now();
    const bytes = frameBytes(state);
    const size = slot.sizeReported ? slot.size : bytes;
    try {
      await this.invoke(agentId(to), 'accept', [id, slot.type.name, slot.type.module, state, size, slot.sizeReported]);
    } catch (e) {
      this.#resume(slot);
      const why = e instanceof Error ? e.message : String(e);
      throw new MigrationError(`migration of proclet ${id} from node ${this.id} to node ${to} failed; it stays on ${this.id}: ${why}`, {
        cause: e,
        data: { proclet: id, from: this.id, to },
      });
    }
    const t3 = performance.now();
    // A type whose state is its own moves it: its large arrays are detached here.
    if (slot.type.transferState) releaseFrame(state);
    slot.state = GONE;
    this.#slots.delete(id);
    this.#dirtySizes.delete(slot);
    this.#tomb(id, to);
    this.#locations.set(id, to);
    delete (slot.instance as Record<symbol, unknown>)[CONTEXT];
    for (const [from, callId] of slot.remoteQueue.splice(0)) this.#enqueue(from, [MSG_MOVED, callId, id, to]);
    for (const run of slot.localQueue.splice(0)) run();
    const blockingMs = performance.now() - t0;
    return { bytes, blockingMs, saveMs: t2 - t1, transferMs: t3 - t2, size };
  }

  /** A failed migration: the proclet stays; queued calls run here. */
  #resume(slot: Slot): void {
    slot.state = ACTIVE;
    for (const [from, callId, method, args] of slot.remoteQueue.splice(0)) this.#serve(slot, from, callId, slot.id, method, args);
    for (const run of slot.localQueue.splice(0)) run();
  }

  #tomb(id: string, where: string): void {
    this.#tombstones.delete(id);
    this.#tombstones.set(id, where);
    if (this.#tombstones.size > MAX_TOMBSTONES) {
      const oldest = this.#tombstones.keys().next().value;
      if (oldest !== undefined) this.#tombstones.delete(oldest);
    }
  }

  /** Removes a proclet for good; its later calls fail with ProcletNotFoundError. */
  async destroyLocal(id: string): Promise<boolean> {
    const slot = this.#slots.get(id);
    if (slot === undefined) return false;
    if (slot.state === MIGRATING) throw new MigrationError(`proclet ${id} is migrating; destroy it after the migration`);
    await slot.quiesce();
    slot.state = GONE;
    this.#slots.delete(id);
    this.#dirtySizes.delete(slot);
    this.#tomb(id, DESTROYED);
    this.#locations.delete(id);
    const hook = (slot.instance as { onDestroy?: () => unknown }).onDestroy;
    if (typeof hook === 'function') await hook.call(slot.instance);
    return true;
  }

  /**
   * Forgets cached locations pointing at `node` and remembers it as gone. Calls it had not
   * answered fail with NodeLostError, unless it `left` cleanly: then they were never run
   * there and follow their proclets (asking the controller where they are now).
   */
  markLost(node: string, reason: string, left = false): void {
    if (this.#lost.has(node)) return;
    this.#lost.set(node, reason);
    // A listed box still goes out at the next flush, where #sendBox fails what it holds.
    this.#boxes.delete(node);
    if (this.#lastNode === node) this.#lastBox = undefined;
    this.#locations.epoch++; // refs holding its box
    for (const [pid, n] of this.#locations) if (n === node) this.#locations.delete(pid);
    const affected: Array<[number, Pending]> = [];
    for (const [callId, p] of this.#pending.entries()) if (p.node === node) affected.push([callId, p]);
    for (const [callId, p] of affected) {
      if (left && p.pid.charCodeAt(0) !== 64 /* @: system proclets leave with their node */) {
        p.hops++;
        this.locate(p.pid).then(
          (n) => this.#resend(callId, p, n),
          (e: unknown) => {
            if (this.#pending.take(callId) === p) p.reject(e);
          },
        );
      } else {
        this.#pending.take(callId);
        p.reject(this.#nodeLostError(node, reason, [p.pid]));
      }
    }
  }

  #onPeerLost(peer: string, reason: string, left: boolean): void {
    this.markLost(peer, reason, left);
    this.onPeerLost?.(peer, reason);
  }

  #nodeLostError(node: string, reason: string, proclets: string[]): NodeLostError {
    return new NodeLostError(`node ${node} was lost (${reason}); proclet${proclets.length > 1 ? 's' : ''} ${proclets.join(', ')} on it ${proclets.length > 1 ? 'are' : 'is'} gone with it`, {
      data: { node, proclets },
    });
  }

  #closedError(): ClosedError {
    return new ClosedError(`the runtime of ${this.id} is closed`);
  }

  // ---------------------------------------------------------------- accounting and workers

  memoryUsed(): number {
    let used = 0;
    for (const s of this.#slots.values()) used += s.size;
    return used;
  }

  /** Whether none of this node's compute workers runs a task now (always, for a client). */
  get workersIdle(): boolean {
    return this.#workers === null || this.#workers.busy === 0;
  }

  usage(): NodeUsage {
    const w = this.#workers;
    return {
      node: this.id,
      cpus: this.budget?.cpus ?? 0,
      memory: this.budget?.memory ?? 0,
      memoryUsed: this.memoryUsed(),
      cpusBusy: w?.busy ?? 0,
      tasksQueued: w?.queued ?? 0,
      tasksCompleted: w?.completed ?? 0,
      workerBusyMs: w?.busyMs() ?? 0,
      proclets: this.#slots.size,
    };
  }

  #markSize(slot: Slot): void {
    this.#dirtySizes.add(slot);
    if (this.#sizeTimer === null && !this.#closed) {
      this.#sizeTimer = setTimeout(this.#reportSizes, 10);
      this.#sizeTimer.unref();
    }
  }

  #reportSizes = (): void => {
    this.#sizeTimer = null;
    if (this.#closed) return;
    const sizes: Array<[string, number]> = [];
    for (const s of this.#dirtySizes) if (s.state !== GONE) sizes.push([s.id, s.size]);
    this.#dirtySizes.clear();
    if (sizes.length === 0) return;
    this.invoke(CONTROLLER_ID, 'reportSizes', [this.id, sizes]).catch((e: unknown) => {
      if (!this.#closed) this.#log(`quicksand: node ${this.id} could not report sizes: ${(e as Error).message}`);
    });
  };

  setSize(slot: Slot, bytes: number): void {
    if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`setSize: bytes must be a non-negative number, got ${bytes}`);
    slot.size = bytes;
    slot.sizeReported = true;
    this.#markSize(slot);
  }

  /**
   * Applies a new capacity: the memory budget at once; CPUs at once too (workers beyond the
   * new count stop between two elements of a range task). With `at` (wall-clock ms,
   * `performance.timeOrigin + performance.now()`), at that moment on this node's clock.
   */
  setCapacity(cpus: number | null, memory: number | null, at: number | null = null): void {
    if (this.budget === null) throw new CapacityError(`${this.id} is a client and has no capacity`);
    if (at !== null) {
      // The workers see a CPU change at its instant, on their own clock (`capacity.ts`);
      // this timer applies it here, up to a millisecond or two later.
      if (cpus !== null) this.#workers?.schedule(at, cpus);
      const t = atWallClock(at, () => {
        this.#capacityTimers.delete(t);
        if (!this.#closed) this.#applyCapacity(cpus, memory, at);
      });
      this.#capacityTimers.add(t);
      return;
    }
    this.#applyCapacity(cpus, memory, -Infinity);
  }

  #applyCapacity(cpus: number | null, memory: number | null, at: number): void {
    if (memory !== null) this.budget!.memory = memory;
    if (cpus !== null) {
      this.budget!.cpus = cpus;
      this.#workers?.resize(cpus, at);
    }
  }

  /** Leaves the cluster after a drain. */
  async leave(): Promise<void> {
    await this.close();
    this.onLeave?.();
  }

  /**
   * Runs a task on this node's workers. While the node's CPUs are taken (capacity 0) a task
   * waits for them, or resolves with `options.yieldValue` when it has one; a node that never
   * had CPUs refuses it.
   */
  runTask(spec: TaskSpec, input: unknown, options?: RunTaskOptions): Promise<unknown> {
    if (this.budget === null || (this.budget.cpus === 0 && this.#workers === null)) {
      if (this.budget !== null && options?.yieldValue !== undefined) return Promise.resolve(options.yieldValue);
      return Promise.reject(new CapacityError(`${this.id} has no CPUs to run tasks on; run the task from a proclet on a node with cpus > 0`));
    }
    this.#workers ??= new WorkerPool(this.budget.cpus, this.id, this.#pinWorkers);
    return this.#workers.run(spec, input, options);
  }

  // ---------------------------------------------------------------- shutdown

  /** Runs `fn` when the runtime closes. */
  onClose(fn: () => void): void {
    this.#closeHooks.push(fn);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#locations.epoch++; // refs holding boxes
    for (const fn of this.#closeHooks.splice(0)) fn();
    for (const t of this.#capacityTimers) t.cancel();
    if (this.#sizeTimer !== null) clearTimeout(this.#sizeTimer);
    const err = this.#closedError();
    for (const [callId, p] of [...this.#pending.entries()]) {
      this.#pending.take(callId);
      p.reject(err);
    }
    for (const slot of this.#slots.values()) {
      for (const run of slot.localQueue.splice(0)) run();
    }
    await this.#workers?.close();
    await this.transport.close();
  }
}

/**
 * Where the proclets this runtime does not hold are, as last learned: a `Map` whose
 * `epoch` changes with every change. A ref keeps the box of the node it last sent to with
 * the epoch (`Ref.place`), and while the epoch stands its next call skips the lookups:
 * nothing was learned or forgotten about any proclet's place since, no proclet came or
 * went here (each of those sets or deletes an entry), no node was lost and the runtime is
 * open (both bump the epoch). A stale place would still be safe (the node answers MOVED
 * and the call follows), only slower.
 */
class Directory extends Map<string, string> {
  epoch = 0;

  override set(pid: string, node: string): this {
    this.epoch++;
    return super.set(pid, node);
  }

  override delete(pid: string): boolean {
    this.epoch++;
    return super.delete(pid);
  }

  override clear(): void {
    this.epoch++;
    super.clear();
  }
}

/**
 * The messages queued for one peer (its next frame). One per peer for as long as the peer
 * is known, emptied in place after each send, never one per frame: V8 allocates a
 * replacement table for a `Map` that is cleared (or rehashed after deletes) in the
 * generation of the table it replaces, and does not empty the table replaced. With a box
 * set and deleted per frame, the outbox's table, once old, left a dead old table per frame
 * pointing at that frame's box; the young-generation collector counts such pointers as
 * roots, so every frame's box, its messages and their arguments survived two scavenges and
 * were promoted (~260 KB per scavenge for a pipelining client, 1.5 MB with 250 calls in
 * flight, doubling the scavenger's pause). A class, not an object literal, for the reason
 * given at `PendingCall`: V8 never pretenures class instances.
 */
class Box {
  msgs: unknown[][] = new Array<unknown[]>();
  /**
   * True while every message holds primitives and arrays of them only: calls whose
   * arguments are primitives, results that are. The codec then need not look through the
   * box for binary data to send out of band (a tenth of a pipelined call's CPU on the
   * calling side).
   */
  plain = true;
  /** Calls, replies and other messages in `msgs` (a run counts each of its calls or replies). */
  count = 0;
  /** The last message when it is a call or result that the next one may join into a run. */
  tail: unknown[] | null = null;
  /** In the runtime's list of boxes to send at the next flush. */
  listed = false;

  constructor(readonly node: string) {}

  /** The queued messages; the box is empty after. */
  take(): unknown[][] {
    const msgs = this.msgs;
    this.msgs = new Array<unknown[]>();
    this.plain = true;
    this.count = 0;
    this.tail = null;
    return msgs;
  }
}

function isRun(m: unknown): boolean {
  return Array.isArray(m) && (m[0] === MSG_CALLS || m[0] === MSG_OKS);
}

/** `box` with every run written out as single calls and results, to send its messages apart. */
function expandRuns(box: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const msg of box) {
    const m = msg as unknown[];
    if (m[0] === MSG_CALLS) {
      const ids = m[3] as number[];
      const argsList = m[4] as unknown[][];
      for (let i = 0; i < ids.length; i++) out.push([MSG_CALL, ids[i], m[1], m[2], argsList[i]]);
    } else if (m[0] === MSG_OKS) {
      const ids = m[1] as number[];
      const values = m[2] as unknown[];
      for (let i = 0; i < ids.length; i++) out.push([MSG_OK, ids[i], values[i]]);
    } else {
      out.push(m);
    }
  }
  return out;
}

function describeMessage(m: unknown[]): string {
  if (m[0] === MSG_CALL) return `the arguments of call ${String(m[3])} on proclet ${String(m[2])}`;
  if (m[0] === MSG_OK) return 'a call result';
  return 'a message';
}

/** The context attached to every hosted proclet instance. */
class Context implements ProcletContext {
  readonly #rt: Runtime;
  readonly #slot: Slot;
  #cluster: Cluster | undefined;
  constructor(rt: Runtime, slot: Slot) {
    this.#rt = rt;
    this.#slot = slot;
  }
  get id(): string {
    return this.#slot.id;
  }
  get node(): string {
    return this.#rt.id;
  }
  get cluster(): Cluster {
    return (this.#cluster ??= this.#rt.facade);
  }
  self<T extends object>(): Ref<T> {
    return this.#rt.ref<T>(this.#slot.id);
  }
  setSize(bytes: number): void {
    this.#rt.setSize(this.#slot, bytes);
  }
  get size(): number {
    return this.#slot.size;
  }
  memory(): { budget: number; used: number } {
    return { budget: this.#rt.budget?.memory ?? 0, used: this.#rt.memoryUsed() };
  }
  runTask<R = unknown>(task: TaskSpec, input?: unknown, options?: RunTaskOptions): Promise<R> {
    return this.#rt.runTask(task, input, options) as Promise<R>;
  }
}

