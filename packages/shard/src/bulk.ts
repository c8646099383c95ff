/**
 * Client-side batching of bulk writes: elements are buffered per destination shard and
 * sent in batches of about `batchBytes`, with at most `inFlightPerShard` batches in
 * flight per shard; a writer that gets ahead waits (backpressure).
 *
 * Two writers:
 * - {@link KeyedBulkWriter} for hash-partitioned writes (map `setMany`, set `addMany`).
 *   Semantics: when a key is written more than once, the last write wins. Writes are
 *   gated by a slot of their key's hash (a bitmap of 2^24 slots, 2 MiB): a write whose slot
 *   already has a write buffered or in flight waits, in order, until that one has been
 *   applied, so two writes of one key can never be reordered on the way (by a refusal
 *   and re-route, a migration, or a call that turns local). Unique keys cost one bit set
 *   and cleared each; a write that shares a slot with another in the window (a repeated
 *   key, or about window/2^24 of the others) waits for one batch. A bulk write can have
 *   its whole input in flight (up to `inFlightPerShard` batches to each of hundreds of
 *   shards), so the window reaches a million keys: with 2^20 slots a third of them waited
 *   on a stranger's slot, which halved `bulkSetOpsPerSec`. Batches to different
 *   shards, and different keys, have no order between them. A batch refused in part
 *   (keys a shard no longer owns) has those writes re-routed after a route refresh.
 * - {@link TailAppender} for ordered appends to the last shard (vector `pushAll`).
 *   Semantics: the elements are appended in the order given. Batches carry a stream id
 *   and a sequence number; the tail shard applies batch `n` of a stream only after batch
 *   `n - 1`, so batches in flight together can never be applied out of order, even when
 *   a migration or a re-send reorders them on the way. A refused batch (stale tail, out
 *   of order, memory) stops sending until everything in flight has been answered, then
 *   sending resumes from the first batch not applied. The last batch closes the stream
 *   (the tail forgets it): for a sync source that is the batch of its last element, so a
 *   `pushAll` of one batch is one append; an async source is not read ahead, so there an
 *   empty closing batch follows when more than one batch was sent.
 *
 * Invariants: each write is applied exactly once (the kernel runs each call once; a
 * refused write was not applied); a writer never holds more than `inFlightPerShard`
 * unanswered batches per shard.
 *
 * Not handled: when a bulk write fails (for example the cluster is out of memory), the
 * writes applied before the failure stay applied.
 */
import { StaleRouteError } from '@quicksand/core';
import type { Ref } from '@quicksand/core';
import type { ShardClient } from './client.js';
import { MAX_ATTEMPTS } from './client.js';
import type { ResolvedBatch } from './options.js';
import { toError } from './protocol.js';

/**
 * @internal A batch of keyed writes to one shard, in columns: hashes, keys, values, and
 * how many times each write was refused and re-routed.
 */
export interface KeyedBatch<K, V> {
  ref: Ref;
  hs: number[];
  ks: K[];
  vs: V[];
  tries: number[];
  bytes: number;
  sent: boolean;
}

/**
 * @internal What a shard answers to a keyed batch: null when every write was applied,
 * else the positions it refused (keys it does not own) and the routes version to reach.
 */
export type KeyedBatchResult = null | { r: number[]; v: number };

/** @internal Sends one batch to a shard. */
export type KeyedSendFn<K, V> = (ref: Ref, batch: KeyedBatch<K, V>) => Promise<KeyedBatchResult>;

/** A batch is at most a quarter of a shard, so one batch never overfills a shard by itself. */
function capBatch(opts: ResolvedBatch, client: ShardClient): ResolvedBatch {
  const cap = Math.max(256, client.cfg.maxShardBytes >>> 2);
  return opts.batchBytes <= cap ? opts : { ...opts, batchBytes: cap };
}

function newBatch<K, V>(ref: Ref): KeyedBatch<K, V> {
  return { ref, hs: [], ks: [], vs: [], tries: [], bytes: 0, sent: false };
}

const SLOT_BITS = 24;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/**
 * Slot bitmaps of finished writers, all zero, for reuse. One bit per slot (2 MiB), not a
 * byte: a bulk write touches slots at random, and the smaller the bitmap, the more of it
 * stays in the CPU's cache.
 */
const freeSlots: Uint32Array[] = [];

interface Deferred<K, V> {
  h: number;
  k: K;
  v: V;
  b: number;
}

/** @internal Batches keyed writes per shard; see the module comment. */
export class KeyedBulkWriter<K, V> {
  readonly #client: ShardClient;
  readonly #send: KeyedSendFn<K, V>;
  readonly #opts: ResolvedBatch;
  /** 1 where a write of a key with that hash slot is buffered or in flight. */
  #busy: Uint32Array | null = null;
  /** Writes waiting for their slot, in arrival order per slot. */
  readonly #deferred = new Map<number, Array<Deferred<K, V>>>();
  readonly #open = new Map<Ref, KeyedBatch<K, V>>();
  readonly #inflight = new Map<Ref, number>();
  readonly #slotWaiters = new Map<Ref, Array<() => void>>();
  #active = 0;
  #idle: Array<() => void> = [];
  #error: Error | null = null;
  /** Batches sent (for tests and stats). */
  batchesSent = 0;
  /** Writes that waited for their slot (for tests and stats). */
  deferredWrites = 0;
  /** Writes a shard refused and that were sent again (for tests and stats). */
  resentWrites = 0;

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
    const busy = (this.#busy ??= freeSlots.pop() ?? new Uint32Array(1 << (SLOT_BITS - 5)));
    const slot = h & SLOT_MASK;
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    if ((busy[word]! & bit) !== 0) {
      this.#defer(slot, { h, k, v, b });
      return;
    }
    busy[word] = busy[word]! | bit;
    return this.#append(h, k, v, b, 0);
  }

  #defer(slot: number, d: Deferred<K, V>): void {
    this.deferredWrites++;
    const q = this.#deferred.get(slot);
    if (q === undefined) this.#deferred.set(slot, [d]);
    else q.push(d);
  }

  /** A write of `slot` was applied: free the slot, or hand it to the next write waiting for it. */
  #release(h: number): void {
    const slot = h & SLOT_MASK;
    const q = this.#deferred.size === 0 ? undefined : this.#deferred.get(slot);
    if (q === undefined) {
      const busy = this.#busy!;
      busy[slot >>> 5] = busy[slot >>> 5]! & ~(1 << (slot & 31));
      return;
    }
    const d = q.shift()!;
    if (q.length === 0) this.#deferred.delete(slot);
    // The slot stays busy, now for `d`; a send that must wait for a shard slot is dispatched by its release.
    void this.#append(d.h, d.k, d.v, d.b, 0);
  }

  /** Sends what is buffered and resolves once every write was applied. */
  async flush(): Promise<void> {
    for (;;) {
      for (const b of [...this.#open.values()]) {
        const wait = this.#ship(b);
        if (wait !== undefined) await wait;
      }
      // While a send waited for a slot, answers may have released writes into new buffers.
      if (this.#open.size > 0) continue;
      if (this.#active === 0) break;
      await new Promise<void>((r) => this.#idle.push(r));
    }
    if (this.#error !== null) throw this.#error;
    // Every write was applied, so every slot is clear again: the bitmap can serve another writer.
    if (this.#busy !== null && this.#deferred.size === 0) {
      freeSlots.push(this.#busy);
      this.#busy = null;
    }
  }

  /** Waits until nothing is in flight (after a failure), without sending the buffers. */
  async settle(): Promise<void> {
    while (this.#active > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  #append(h: number, k: K, v: V, b: number, tries: number): void | Promise<void> {
    const ref = this.#client.route(h);
    let batch = this.#open.get(ref);
    if (batch === undefined) {
      batch = newBatch<K, V>(ref);
      this.#open.set(ref, batch);
    }
    batch.hs.push(h);
    batch.ks.push(k);
    batch.vs.push(v);
    batch.tries.push(tries);
    batch.bytes += b;
    if (batch.bytes >= this.#opts.batchBytes) return this.#ship(batch);
  }

  #ship(batch: KeyedBatch<K, V>): void | Promise<void> {
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

  #dispatch(batch: KeyedBatch<K, V>): void {
    const ref = batch.ref;
    this.#inflight.set(ref, (this.#inflight.get(ref) ?? 0) + 1);
    this.batchesSent++;
    this.#send(ref, batch).then(
      (res) => this.#answered(batch, res),
      (e: unknown) => this.#refused(batch, e),
    );
  }

  #answered(batch: KeyedBatch<K, V>, res: KeyedBatchResult): void {
    const hs = batch.hs;
    if (res === null) {
      for (let i = 0; i < hs.length; i++) this.#release(hs[i]!);
      this.#complete(batch);
      return;
    }
    const refused = new Set(res.r);
    const again: number[] = [];
    for (let i = 0; i < hs.length; i++) {
      if (refused.has(i)) again.push(i);
      else this.#release(hs[i]!);
    }
    this.#client
      .refresh(res.v)
      .then(() => this.#requeue(batch, again))
      .catch((e: unknown) => this.#fail(e))
      .finally(() => this.#complete(batch));
  }

  #refused(batch: KeyedBatch<K, V>, e: unknown): void {
    const tries = Math.max(...batch.tries);
    this.#client
      .recover(e, batch.ref, tries)
      .then(() => this.#requeue(batch, null))
      .catch((err: unknown) => this.#fail(err))
      .finally(() => this.#complete(batch));
  }

  /** Buffers writes of `batch` again (those at `which`, or all), routed with the current routes. */
  #requeue(batch: KeyedBatch<K, V>, which: number[] | null): void {
    const n = which === null ? batch.ks.length : which.length;
    const each = batch.ks.length === 0 ? 0 : batch.bytes / batch.ks.length;
    for (let j = 0; j < n; j++) {
      if (this.#error !== null) return;
      const i = which === null ? j : which[j]!;
      const tries = batch.tries[i]! + 1;
      if (tries > MAX_ATTEMPTS) {
        this.#fail(new StaleRouteError(`${this.#client.what}: gave up re-routing a write after ${MAX_ATTEMPTS} attempts while routes kept changing`));
        return;
      }
      this.resentWrites++;
      // A send that must wait for a slot is dispatched by the slot's release.
      void this.#append(batch.hs[i]!, batch.ks[i]!, batch.vs[i]!, each, tries);
    }
  }

  #fail(e: unknown): void {
    this.#error ??= toError(e);
  }

  #complete(batch: KeyedBatch<K, V>): void {
    const ref = batch.ref;
    const n = (this.#inflight.get(ref) ?? 1) - 1;
    if (n === 0) this.#inflight.delete(ref);
    else this.#inflight.set(ref, n);
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
  /** The last batch, which closes the stream, was cut. */
  #closed = false;
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

  /**
   * Buffers one element of `bytes` bytes; returns a promise only when the caller must
   * wait. `last`: no element follows, so its batch goes out now and closes the stream
   * (otherwise `end` sends an empty batch that does).
   */
  push(item: T, bytes: number, last = false): void | Promise<void> {
    if (this.#error !== null) throw this.#error;
    this.#cur.push(item);
    this.#curBytes += bytes;
    if (last) {
      this.#cut(true);
    } else if (this.#curBytes >= this.#opts.batchBytes) {
      this.#cut(false);
      if (this.#batches.length >= this.#opts.inFlightPerShard) return this.#wait(() => this.#batches.length < this.#opts.inFlightPerShard);
    }
  }

  /** Sends the rest and resolves once every element was appended. */
  async end(): Promise<number> {
    if (this.#error === null && !this.#closed && (this.#cur.length > 0 || this.#seq > 0)) this.#cut(true);
    await this.#wait(() => this.#batches.length === 0 || this.#error !== null);
    if (this.#error !== null) throw this.#error;
    return this.appended;
  }

  /** Waits until nothing is in flight (after a failure). */
  async settle(): Promise<void> {
    await this.#wait(() => this.#inflight === 0);
  }

  #cut(last: boolean): void {
    this.#closed = last;
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
 * `last` is true for the last value of a sync source (it looks one value ahead), so a
 * writer can close its last batch with it instead of sending an empty one after it; an
 * async source is not read ahead (that would hold a value back until the next arrives),
 * so there it is always false.
 */
export async function feed<T>(values: Iterable<T> | AsyncIterable<T>, one: (v: T, last: boolean) => void | Promise<void>): Promise<void> {
  if (Symbol.asyncIterator in values) {
    for await (const v of values) {
      const wait = one(v, false);
      if (wait !== undefined) await wait;
    }
    return;
  }
  if (Array.isArray(values)) {
    const n = values.length;
    for (let i = 0; i < n; i++) {
      const wait = one(values[i] as T, i === n - 1);
      if (wait !== undefined) await wait;
    }
    return;
  }
  const it = values[Symbol.iterator]();
  let cur = it.next();
  try {
    while (cur.done !== true) {
      const next = it.next();
      const wait = one(cur.value, next.done === true);
      if (wait !== undefined) await wait;
      cur = next;
    }
  } finally {
    // Closed only when left early (a write failed), as `for...of` does.
    if (cur.done !== true) it.return?.();
  }
}
