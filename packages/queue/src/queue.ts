/**
 * `ShardedQueue<T>`: the client handle of a segmented multi-producer, multi-consumer
 * queue whose items live in segment proclets spread over the cluster.
 *
 * Semantics callers may rely on:
 * - Order per producer: the items one handle pushes are popped in the order it pushed
 *   them (a handle sends one batch at a time, and a segment never gains items once its
 *   successor exists). Items of different handles interleave.
 * - Exactly once: every pushed item is popped by exactly one consumer, also while
 *   segments split, are reclaimed or migrate (appends and takes are single calls, which
 *   the kernel runs exactly once; a take that waited when its segment moved is answered
 *   `retry` without taking anything).
 * - Backpressure: with a capacity, a push waits for permits, so the queue never holds
 *   more than `capacity` items plus those of pushes in flight that already hold permits.
 * - `pop` waits for an item or for the queue to be closed and empty (then `undefined`).
 *
 * Not handled: items lost with a node that dies; pushing `undefined` (it marks the end).
 */
import { AbortedError, ClosedError, hasErrorCode, parseSize } from '@quicksand/core';
import type { Cluster, Ref, Size } from '@quicksand/core';
import { IndexType } from './queue-index.js';
import type { QueueConfig, QueueIndex, QueueStats } from './queue-index.js';
import type { QueueSegment, SegmentInfo, TakeResult } from './segment.js';

/** Options of {@link ShardedQueue.create}. */
export interface QueueOptions {
  /**
   * Most items the queue holds; `push` waits while it is full. 0 means unbounded.
   * @defaultValue 0
   */
  capacity?: number;
  /**
   * Estimated bytes a segment holds before the queue adds a new tail segment (on the
   * node with the most free memory).
   * @defaultValue `'1MiB'`
   */
  segmentBytes?: Size;
  /**
   * Node of the queue's index and first segment.
   * @defaultValue the node of the cluster view, when it hosts proclets
   */
  node?: string;
}

/** Options of a waiting call. */
export interface WaitOptions {
  /** Cancels the wait; the call then rejects with `AbortedError`. */
  signal?: AbortSignal;
}

/** Most items sent in one append. */
const BATCH_ITEMS = 4096;
const DEFAULT_SEGMENT_BYTES = 1024 * 1024;

interface Outgoing {
  items: unknown[];
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
}

let handleSeq = 0;

/**
 * A queue sharded into segment proclets: producers and consumers on any node, order kept
 * per producer, each item delivered once, optional capacity with backpressure. Segments
 * are added when the tail grows past `segmentBytes` and reclaimed when drained.
 *
 * @example
 * ```ts
 * const q = await ShardedQueue.create<number>(cluster, { capacity: 1000 });
 * const consumer = (async () => { let sum = 0; for await (const x of q) sum += x; return sum; })();
 * await q.pushAll([1, 2, 3]);
 * await q.close();
 * console.log(await consumer); // 6
 * ```
 */
export class ShardedQueue<T> {
  /** The queue's id (the id of its index proclet); pass it, or the queue, to other nodes. */
  readonly id: string;
  readonly #cluster: Cluster;
  readonly #index: Ref<QueueIndex>;
  readonly #handle = `${++handleSeq}`;
  /** -1 until known; only `#pushNow` reads it, one batch at a time. */
  #capacity = -1;
  #tail: Ref<QueueSegment> | null = null;
  #head: Ref<QueueSegment> | null = null;
  #waitSeq = 0;
  readonly #outbox: Outgoing[] = [];
  #sending: Promise<void> = Promise.resolve();
  #pumping = false;

  private constructor(cluster: Cluster, id: string) {
    this.#cluster = cluster;
    this.id = id;
    this.#index = cluster.ref<QueueIndex>(id);
  }

  /**
   * Creates a queue.
   * @throws TypeError/RangeError for bad options, naming the option.
   */
  static async create<T>(cluster: Cluster, options: QueueOptions = {}): Promise<ShardedQueue<T>> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const capacity = options.capacity ?? 0;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`options.capacity must be a non-negative integer (0 for unbounded), got ${String(capacity)}`);
    }
    const segmentBytes = parseSize(options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, 'options.segmentBytes');
    if (segmentBytes < 1) throw new RangeError('options.segmentBytes must be at least 1 byte');
    if (options.node !== undefined && (typeof options.node !== 'string' || options.node.length === 0)) {
      throw new TypeError('options.node must be a node id');
    }
    const node = options.node ?? ((await cluster.nodes()).includes(cluster.nodeId) ? cluster.nodeId : undefined);
    const index = await cluster.create(IndexType, [capacity, segmentBytes], node === undefined ? {} : { node });
    const q = new ShardedQueue<T>(cluster, index.id);
    q.#apply(await index.call('init'));
    return q;
  }

  /**
   * A handle on an existing queue, from its id or wire form `{ id }` (what a queue
   * becomes when passed to another node).
   * @throws TypeError when `id` is neither.
   */
  static open<T>(cluster: Cluster, id: string | { id: string }): ShardedQueue<T> {
    const qid = typeof id === 'string' ? id : typeof id === 'object' && id !== null ? id.id : undefined;
    if (typeof qid !== 'string' || qid.length === 0) throw new TypeError('ShardedQueue.open: expected a queue id or { id }');
    return new ShardedQueue<T>(cluster, qid);
  }

  /** The wire form `{ id }`; reopen it with {@link ShardedQueue.open}. */
  toJSON(): { id: string } {
    return { id: this.id };
  }

  /**
   * Pushes one item; resolves once it is in the queue (waits while the queue is full).
   * @throws ClosedError when the queue is closed; TypeError for `undefined`.
   */
  push(item: T, options?: WaitOptions): Promise<void> {
    return this.pushAll([item], options);
  }

  /**
   * Pushes items in order; resolves once all are in the queue. With a capacity, a long
   * list enters piece by piece as consumers make room; if it is aborted or the queue
   * closes meanwhile, a prefix of it may have been pushed.
   * @throws ClosedError when the queue is closed; TypeError when an item is `undefined`.
   */
  pushAll(items: Iterable<T>, options?: WaitOptions): Promise<void> {
    const list: unknown[] = Array.isArray(items) ? (items as unknown[]) : [...items];
    for (const x of list) {
      if (x === undefined) return Promise.reject(new TypeError('cannot push undefined: pop() returns undefined to mean "closed and empty"'));
    }
    if (list.length === 0) return Promise.resolve();
    return this.#enqueue(list, options?.signal);
  }

  /**
   * Pops the oldest item, waiting for one; resolves `undefined` once the queue is closed
   * and empty. An abort that comes after an item was handed to this pop does not lose it:
   * the pop then resolves with the item.
   * @throws AbortedError when `options.signal` aborts first.
   */
  async pop(options: WaitOptions = {}): Promise<T | undefined> {
    const got = await this.#take(1, options.signal, true);
    return got === null ? undefined : (got[0] as T);
  }

  /** Pops up to `n` items that are there now, without waiting (possibly none). */
  async tryPop(n = 1): Promise<T[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`tryPop: n must be a positive integer, got ${n}`);
    const out: unknown[] = [];
    while (out.length < n) {
      const got = await this.#take(n - out.length, undefined, false);
      if (got === null || got.length === 0) break;
      out.push(...got);
    }
    return out as T[];
  }

  /**
   * Pops up to `n` items, waiting until there is at least one; resolves `[]` once the
   * queue is closed and empty.
   * @throws AbortedError when `options.signal` aborts first.
   */
  async popMany(n: number, options: WaitOptions = {}): Promise<T[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`popMany: n must be a positive integer, got ${n}`);
    const got = await this.#take(n, options.signal, true);
    return (got ?? []) as T[];
  }

  /** Pops items until the queue is closed and empty. Breaking out loses nothing. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      const x = await this.pop();
      if (x === undefined) return;
      yield x;
    }
  }

  /**
   * Closes the queue once this handle's pending pushes are in: later pushes fail with
   * ClosedError, and consumers drain what is left, then get `undefined`. Pending pushes
   * include those waiting for room in a full queue: with no consumer left, abort them
   * first (their `signal`, or the pool job's), or `close` waits for room as they do.
   */
  async close(): Promise<void> {
    await this.#drainOutbox();
    await this.#index.call('close');
  }

  /** Items pushed and not yet popped. */
  async length(): Promise<number> {
    return (await this.#index.call('stats')).length;
  }

  /** Counters: length, pushed, popped, capacity, closed, segments. */
  async stats(): Promise<QueueStats> {
    return await this.#index.call('stats');
  }

  /** Size and node of every segment, head first. */
  async segments(): Promise<SegmentInfo[]> {
    return await this.#index.call('segmentInfo');
  }

  /** Closes the queue and frees its proclets; every handle on it stops working. */
  async destroy(): Promise<void> {
    await this.#drainOutbox().catch(() => undefined);
    await this.#index.call('destroyAll');
    await this.#cluster.destroy(this.#index);
  }

  // ---------------------------------------------------------------- pushing

  #enqueue(items: unknown[], signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(new AbortedError('push aborted before it started'));
    return new Promise<void>((resolve, reject) => {
      this.#outbox.push({ items, signal, resolve, reject });
      if (!this.#pumping) {
        this.#pumping = true;
        this.#sending = this.#send();
      }
    });
  }

  async #drainOutbox(): Promise<void> {
    while (this.#pumping) await this.#sending;
  }

  /** Sends the outbox in order, one batch at a time; pushes without a signal share batches. */
  async #send(): Promise<void> {
    try {
      while (this.#outbox.length > 0) {
        const first = this.#outbox.shift()!;
        const group: Outgoing[] = [first];
        let size = first.items.length;
        if (first.signal === undefined) {
          while (this.#outbox.length > 0 && this.#outbox[0]!.signal === undefined && size + this.#outbox[0]!.items.length <= BATCH_ITEMS) {
            const o = this.#outbox.shift()!;
            size += o.items.length;
            group.push(o);
          }
        }
        const items = group.length === 1 ? first.items : group.flatMap((o) => o.items);
        try {
          await this.#pushNow(items, first.signal);
          for (const o of group) o.resolve();
        } catch (e) {
          for (const o of group) o.reject(e);
        }
      }
    } finally {
      // Runs right after the last emptiness check, in the same step: no push slips in between.
      this.#pumping = false;
    }
  }

  async #pushNow(items: unknown[], signal: AbortSignal | undefined): Promise<void> {
    const capacity = await this.#getCapacity();
    for (let off = 0; off < items.length; ) {
      let n = Math.min(BATCH_ITEMS, items.length - off);
      if (capacity > 0) n = await this.#acquire(n, signal);
      await this.#append(off === 0 && n === items.length ? items : items.slice(off, off + n));
      off += n;
    }
  }

  async #acquire(n: number, signal: AbortSignal | undefined): Promise<number> {
    for (;;) {
      if (signal?.aborted === true) throw new AbortedError('push aborted while waiting for room in the queue');
      const waitId = this.#waitId();
      const onAbort = (): void => {
        this.#index.call('cancelAcquire', waitId).catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let granted: number;
      try {
        granted = await this.#index.call('acquire', n, waitId);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (granted > 0) return granted;
      if (granted < 0) throw new AbortedError('push aborted while waiting for room in the queue');
    }
  }

  async #append(items: unknown[]): Promise<void> {
    for (let hops = 0; ; hops++) {
      if (hops > 64) throw new Error(`queue ${this.id}: could not find its tail segment after ${hops} tries`);
      const tail = this.#tail ?? (this.#tail = this.#segment((await this.#index.call('config')).tail));
      let r;
      try {
        r = await tail.call('append', items);
      } catch (e) {
        if (!hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND')) throw e;
        this.#tail = null;
        continue;
      }
      if (r === null) return;
      this.#tail = this.#segment(r.redirect);
    }
  }

  // ---------------------------------------------------------------- popping

  /** Takes up to `max` items from the head; null when closed and empty. */
  async #take(max: number, signal: AbortSignal | undefined, wait: boolean): Promise<unknown[] | null> {
    for (;;) {
      if (signal?.aborted === true) throw new AbortedError('pop aborted');
      const head = this.#head ?? (this.#head = this.#segment((await this.#index.call('config')).head));
      const waitId = wait ? this.#waitId() : '';
      const onAbort = (): void => {
        head.call('cancel', waitId).catch(() => undefined);
      };
      if (wait) signal?.addEventListener('abort', onAbort, { once: true });
      let r: TakeResult;
      try {
        r = await head.call('take', max, waitId);
      } catch (e) {
        if (!hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND')) throw e;
        this.#head = null;
        continue;
      } finally {
        if (wait) signal?.removeEventListener('abort', onAbort);
      }
      if (r.next !== undefined) this.#head = this.#segment(r.next);
      if (r.items !== undefined && (r.items.length > 0 || !wait)) return r.items;
      if (r.closed === true) return null;
      if (r.cancelled === true) throw new AbortedError('pop aborted while waiting for an item');
    }
  }

  // ---------------------------------------------------------------- plumbing

  #segment(id: string): Ref<QueueSegment> {
    if (id === '') throw new ClosedError(`queue ${this.id} has been destroyed`);
    return this.#cluster.ref<QueueSegment>(id);
  }

  /** An id for a parked call, unique across handles and nodes. */
  #waitId(): string {
    return `${this.#cluster.nodeId}/${this.#handle}/${++this.#waitSeq}`;
  }

  async #getCapacity(): Promise<number> {
    if (this.#capacity < 0) this.#apply(await this.#index.call('config'));
    return this.#capacity;
  }

  #apply(config: QueueConfig): void {
    this.#capacity = config.capacity;
    this.#tail ??= this.#segment(config.tail);
    this.#head ??= this.#segment(config.head);
  }
}
