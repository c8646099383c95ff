/**
 * Client-side batching of bulk writes: elements are buffered per destination shard and
 * sent in batches of about `batchBytes`, with at most `inFlightPerShard` batches in
 * flight per shard; a writer that gets ahead waits (backpressure).
 *
 * Two writers:
 * - {@link KeyedBulkWriter} for hash-partitioned writes (map `setMany`, set `addMany`).
 *   Semantics: when a key is written more than once, the last write wins: a later write
 *   to a key whose earlier write is still buffered replaces it in the buffer, and one
 *   whose earlier write is in flight waits for it to be applied. Batches to different
 *   shards, and different keys, have no order between them. A batch refused in part
 *   (keys a shard no longer owns) has those writes re-routed after a route refresh.
 * - {@link TailAppender} for ordered appends to the last shard (vector `pushAll`).
 *   Semantics: the elements are appended in the order given. Batches carry a stream id
 *   and a sequence number; the tail shard applies batch `n` of a stream only after batch
 *   `n - 1`, so batches in flight together can never be applied out of order, even when
 *   a migration or a re-send reorders them on the way. A refused batch (stale tail, out
 *   of order, memory) stops sending until everything in flight has been answered, then
 *   sending resumes from the first batch not applied.
 *
 * Invariants: each write is applied exactly once (the kernel runs each call once; a
 * refused write was not applied); a writer never holds more than `inFlightPerShard`
 * unanswered batches per shard.
 *
 * Not handled: when a bulk write fails (for example the cluster is out of memory), the
 * writes applied before the failure stay applied.
 */
import type { Ref } from '@quicksand/core';
import type { ShardClient } from './client.js';
import { MAX_ATTEMPTS } from './client.js';
import type { ResolvedBatch } from './options.js';
import { toError } from './protocol.js';

/** @internal One buffered keyed write. */
export interface KeyedOp<K, V> {
  h: number;
  k: K;
  v: V;
  b: number;
  batch: OpBatch<K, V> | null;
  tries: number;
}

interface OpBatch<K, V> {
  ref: Ref;
  ops: Array<KeyedOp<K, V>>;
  bytes: number;
  sent: boolean;
  done: Promise<void>;
  resolve: () => void;
}

/**
 * @internal What a shard answers to a keyed batch: null when every write was applied,
 * else the positions it refused (keys it does not own) and the routes version to reach.
 */
export type KeyedBatchResult = null | { r: number[]; v: number };

/** @internal Sends one batch to a shard. */
export type KeyedSendFn<K, V> = (ref: Ref, ops: Array<KeyedOp<K, V>>) => Promise<KeyedBatchResult>;

/** A batch is at most a quarter of a shard, so one batch never overfills a shard by itself. */
function capBatch(opts: ResolvedBatch, client: ShardClient): ResolvedBatch {
  const cap = Math.max(256, client.cfg.maxShardBytes >>> 2);
  return opts.batchBytes <= cap ? opts : { ...opts, batchBytes: cap };
}

function newBatch<K, V>(ref: Ref): OpBatch<K, V> {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  return { ref, ops: [], bytes: 0, sent: false, done, resolve };
}

/** @internal Batches keyed writes per shard; see the module comment. */
export class KeyedBulkWriter<K, V> {
  readonly #client: ShardClient;
  readonly #send: KeyedSendFn<K, V>;
  readonly #opts: ResolvedBatch;
  readonly #pending = new Map<K, KeyedOp<K, V>>();
  readonly #open = new Map<Ref, OpBatch<K, V>>();
  readonly #inflight = new Map<Ref, number>();
  readonly #slotWaiters = new Map<Ref, Array<() => void>>();
  #active = 0;
  #idle: Array<() => void> = [];
  #error: Error | null = null;
  /** Batches sent (for tests and stats). */
  batchesSent = 0;

  constructor(client: ShardClient, send: KeyedSendFn<K, V>, opts: ResolvedBatch) {
    this.#client = client;
    this.#send = send;
    this.#opts = capBatch(opts, client);
  }

  /**
   * Buffers one write of `k` (hash `h`, `b` bytes). Returns a promise only when the
   * caller must wait before writing more.
   */
  write(h: number, k: K, v: V, b: number): void | Promise<void> {
    if (this.#error !== null) throw this.#error;
    const prev = this.#pending.get(k);
    if (prev !== undefined) {
      const batch = prev.batch!;
      if (!batch.sent) {
        batch.bytes += b - prev.b;
        prev.v = v;
        prev.b = b;
        return;
      }
      return batch.done.then(() => this.write(h, k, v, b));
    }
    const op: KeyedOp<K, V> = { h, k, v, b, batch: null, tries: 0 };
    this.#pending.set(k, op);
    return this.#enqueue(op);
  }

  /** Sends what is buffered and resolves once every write was applied. */
  async flush(): Promise<void> {
    for (;;) {
      for (const b of [...this.#open.values()]) {
        const wait = this.#ship(b);
        if (wait !== undefined) await wait;
      }
      if (this.#active === 0 && this.#open.size === 0) break;
      await new Promise<void>((r) => this.#idle.push(r));
    }
    if (this.#error !== null) throw this.#error;
  }

  /** Waits until nothing is in flight (after a failure), without sending the buffers. */
  async settle(): Promise<void> {
    while (this.#active > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  #enqueue(op: KeyedOp<K, V>): void | Promise<void> {
    const ref = this.#client.route(op.h);
    let batch = this.#open.get(ref);
    if (batch === undefined) {
      batch = newBatch<K, V>(ref);
      this.#open.set(ref, batch);
    }
    batch.ops.push(op);
    batch.bytes += op.b;
    op.batch = batch;
    if (batch.bytes >= this.#opts.batchBytes) return this.#ship(batch);
  }

  #ship(batch: OpBatch<K, V>): void | Promise<void> {
    if (batch.sent) return; // shipped while the caller waited (flush iterates a snapshot)
    this.#open.delete(batch.ref);
    batch.sent = true;
    this.#active++;
    const n = this.#inflight.get(batch.ref) ?? 0;
    if (n < this.#opts.inFlightPerShard) {
      this.#dispatch(batch);
      return;
    }
    return new Promise<void>((resolve) => {
      let w = this.#slotWaiters.get(batch.ref);
      if (w === undefined) {
        w = [];
        this.#slotWaiters.set(batch.ref, w);
      }
      w.push(() => {
        this.#dispatch(batch);
        resolve();
      });
    });
  }

  #dispatch(batch: OpBatch<K, V>): void {
    const ref = batch.ref;
    this.#inflight.set(ref, (this.#inflight.get(ref) ?? 0) + 1);
    this.batchesSent++;
    this.#send(ref, batch.ops).then(
      (res) => this.#answered(batch, res),
      (e: unknown) => this.#refused(batch, e),
    );
  }

  #answered(batch: OpBatch<K, V>, res: KeyedBatchResult): void {
    if (res === null) {
      for (const op of batch.ops) this.#finish(op);
      this.#complete(batch);
      return;
    }
    const refused = new Set(res.r);
    const again: Array<KeyedOp<K, V>> = [];
    batch.ops.forEach((op, i) => (refused.has(i) ? again.push(op) : this.#finish(op)));
    const tries = Math.max(...again.map((op) => ++op.tries));
    this.#client
      .refresh(res.v)
      .then(() => {
        if (tries >= MAX_ATTEMPTS) throw new RangeError(`${this.#client.what}: gave up re-routing writes after ${MAX_ATTEMPTS} attempts`);
        this.#requeue(again);
      })
      .catch((e: unknown) => this.#fail(e))
      .finally(() => this.#complete(batch));
  }

  #refused(batch: OpBatch<K, V>, e: unknown): void {
    const tries = Math.max(...batch.ops.map((op) => ++op.tries));
    this.#client
      .recover(e, batch.ref, tries - 1)
      .then(() => this.#requeue(batch.ops))
      .catch((err: unknown) => this.#fail(err))
      .finally(() => this.#complete(batch));
  }

  #requeue(ops: Array<KeyedOp<K, V>>): void {
    for (const op of ops) {
      if (this.#error !== null) return;
      // A send that must wait for a slot is dispatched by the slot's release.
      void this.#enqueue(op);
    }
  }

  #finish(op: KeyedOp<K, V>): void {
    if (this.#pending.get(op.k) === op) this.#pending.delete(op.k);
  }

  #fail(e: unknown): void {
    this.#error ??= toError(e);
  }

  #complete(batch: OpBatch<K, V>): void {
    const ref = batch.ref;
    const n = (this.#inflight.get(ref) ?? 1) - 1;
    if (n === 0) this.#inflight.delete(ref);
    else this.#inflight.set(ref, n);
    batch.resolve();
    const w = this.#slotWaiters.get(ref);
    if (w !== undefined && w.length > 0) {
      const next = w.shift()!;
      if (w.length === 0) this.#slotWaiters.delete(ref);
      next();
    }
    if (--this.#active === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const r of idle) r();
    }
  }
}

/**
 * @internal Appends one batch at the tail: resolves with the index of its first element,
 * or a negative number when the tail refused it as out of order.
 */
export type AppendFn<T> = (ref: Ref, stream: string, seq: number, items: T[], last: boolean) => Promise<number>;

interface AppendBatch<T> {
  seq: number;
  items: T[];
  last: boolean;
  applied: boolean;
}

let streamCounter = 0;

/** @internal Ordered, batched appends to the last shard; see the module comment. */
export class TailAppender<T> {
  readonly #client: ShardClient;
  readonly #append: AppendFn<T>;
  readonly #opts: ResolvedBatch;
  readonly #stream: string;
  #cur: T[] = [];
  #curBytes = 0;
  #seq = 0;
  /** Batches not applied yet, in sequence order; `#batches[0..#sent)` were sent. */
  #batches: Array<AppendBatch<T>> = [];
  #sent = 0;
  #inflight = 0;
  #refusal: { e: unknown; ref: Ref } | null = null;
  #orderRefused = false;
  #recovering = false;
  #attempt = 0;
  #error: Error | null = null;
  #waiters: Array<() => void> = [];
  /** Elements appended so far. */
  appended = 0;
  /** Batches sent (for tests and stats). */
  batchesSent = 0;

  constructor(client: ShardClient, append: AppendFn<T>, opts: ResolvedBatch) {
    this.#client = client;
    this.#append = append;
    this.#opts = capBatch(opts, client);
    this.#stream = `${client.cluster.nodeId}:${process.pid}:${Date.now().toString(36)}:${(++streamCounter).toString(36)}:${Math.random().toString(36).slice(2, 10)}`;
  }

  /** Buffers one element of `bytes` bytes; returns a promise only when the caller must wait. */
  push(item: T, bytes: number): void | Promise<void> {
    if (this.#error !== null) throw this.#error;
    this.#cur.push(item);
    this.#curBytes += bytes;
    if (this.#curBytes >= this.#opts.batchBytes) {
      this.#cut(false);
      if (this.#batches.length >= this.#opts.inFlightPerShard) return this.#wait(() => this.#batches.length < this.#opts.inFlightPerShard);
    }
  }

  /** Sends the rest and resolves once every element was appended. */
  async end(): Promise<number> {
    if (this.#error === null && (this.#cur.length > 0 || this.#seq > 0)) this.#cut(true);
    await this.#wait(() => this.#batches.length === 0 || this.#error !== null);
    if (this.#error !== null) throw this.#error;
    return this.appended;
  }

  /** Waits until nothing is in flight (after a failure). */
  async settle(): Promise<void> {
    await this.#wait(() => this.#inflight === 0);
  }

  #cut(last: boolean): void {
    this.#batches.push({ seq: this.#seq++, items: this.#cur, last, applied: false });
    this.#cur = [];
    this.#curBytes = 0;
    this.#pump();
  }

  #pump(): void {
    while (!this.#recovering && this.#refusal === null && !this.#orderRefused && this.#error === null && this.#inflight < this.#opts.inFlightPerShard && this.#sent < this.#batches.length) {
      this.#send(this.#batches[this.#sent++]!);
    }
  }

  #send(b: AppendBatch<T>): void {
    this.#inflight++;
    this.batchesSent++;
    const ref = this.#client.last();
    this.#append(ref, this.#stream, b.seq, b.items, b.last).then(
      (first) => {
        this.#inflight--;
        if (first >= 0) {
          b.applied = true;
          this.appended += b.items.length;
          this.#attempt = 0;
        } else {
          this.#orderRefused = true;
        }
        this.#settled();
      },
      (e: unknown) => {
        this.#inflight--;
        this.#refusal ??= { e, ref };
        this.#settled();
      },
    );
  }

  #settled(): void {
    while (this.#batches.length > 0 && this.#batches[0]!.applied) {
      this.#batches.shift();
      this.#sent--;
    }
    if ((this.#refusal !== null || this.#orderRefused) && this.#inflight === 0 && !this.#recovering) {
      const refusal = this.#refusal;
      this.#recovering = true;
      const recovery = refusal === null ? Promise.resolve() : this.#client.recover(refusal.e, refusal.ref, this.#attempt++);
      recovery
        .then(() => {
          if (refusal === null && ++this.#attempt > MAX_ATTEMPTS) throw new RangeError(`${this.#client.what}: appends kept arriving out of order after ${MAX_ATTEMPTS} attempts`);
          // Everything not applied is sent again, from the first batch not applied.
          this.#sent = 0;
          while (this.#sent < this.#batches.length && this.#batches[this.#sent]!.applied) this.#sent++;
        })
        .catch((e: unknown) => {
          this.#error ??= toError(e);
        })
        .finally(() => {
          this.#refusal = null;
          this.#orderRefused = false;
          this.#recovering = false;
          this.#pump();
          this.#wake();
        });
      return;
    }
    this.#pump();
    this.#wake();
  }

  #wait(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (ready() || this.#error !== null) resolve();
        else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/**
 * @internal Calls `one` for each value of a sync or async iterable, awaiting only the
 * calls that return a promise (a bulk writer's backpressure), so a sync source stays sync.
 */
export async function feed<T>(values: Iterable<T> | AsyncIterable<T>, one: (v: T) => void | Promise<void>): Promise<void> {
  if (Symbol.asyncIterator in values) {
    for await (const v of values) {
      const wait = one(v);
      if (wait !== undefined) await wait;
    }
  } else {
    for (const v of values) {
      const wait = one(v);
      if (wait !== undefined) await wait;
    }
  }
}
