/**
 * `ShardedVector<T>`: the client handle of a vector whose elements live in shards.
 *
 * Semantics:
 * - Indices are dense, from 0 to `length() - 1`; elements are appended at the end
 *   (`push`, `pushAll`) and replaced in place (`set`). Each call is atomic on its shard
 *   and, once its promise resolved, visible to every later call from any node.
 * - `pushAll` appends its elements in order, in batches sent to the tail shard with a
 *   few in flight; concurrent `push`/`pushAll` calls from other clients interleave
 *   between batches. Calls that are not awaited one after the other have no order.
 * - Iteration (`for await`, `range`, `values`) yields the elements of a fixed index range
 *   (by default `[0, length)` when it starts), in order, each exactly once, while shards
 *   split, merge or migrate underneath. An element replaced during the iteration is seen
 *   with its old or new value.
 *
 * Not handled: removing elements other than by `clear()`; `undefined` elements (not every
 * codec carries them: use `null`).
 */

import type { Cluster, Ref } from '@quicksand/core';
import {
  BlockIterator,
  feed,
  END,
  TailAppender,
  createStructure,
  estimateBytes,
  openStructure,
  resolveBatch,
  resolvePrefetch,
  resolveSharding,
} from '@quicksand/shard/internal';
import type { ResolvedPrefetch, ShardClient } from '@quicksand/shard/internal';
import { ShardedStructure } from '@quicksand/shard';
import type { BatchOptions, PrefetchOptions, ShardingOptions } from '@quicksand/shard';
import { VectorShardType } from './shard.js';
import type { VectorShard } from './shard.js';

/** Options of {@link ShardedVector.create}. */
export interface VectorOptions extends ShardingOptions {
  /** Node of the first shard and the index; later shards go where memory is free. */
  node?: string;
}

const KIND = 'vector';

function checkIndex(i: number, what = 'index'): number {
  if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`${what} must be an integer, got ${typeof i === 'number' ? i : typeof i}`);
  if (i < 0 || i >= END) throw new RangeError(`${what} must be in [0, 2^53 - 1), got ${i}`);
  return i;
}

function checkElement(v: unknown): void {
  if (v === undefined) throw new TypeError('vector elements must not be undefined (not every codec carries it); use null');
}

/**
 * A vector sharded across the cluster: one vector to the user, shards of a bounded size
 * underneath that split as it grows and move to wherever memory is free.
 *
 * @typeParam T - element type; elements cross the wire through the codec, so use plain
 * data (numbers, strings, arrays, plain objects, typed arrays).
 * @example
 * ```ts
 * const v = await ShardedVector.create<number>(cluster, 'samples');
 * await v.pushAll(Array.from({ length: 1_000_000 }, (_, i) => i));
 * await v.set(7, 42);
 * let sum = 0;
 * for await (const x of v) sum += x;          // prefetches across shards
 * console.log(await v.length(), await v.get(7), sum);
 * ```
 */
export class ShardedVector<T> extends ShardedStructure implements AsyncIterable<T> {
  private constructor(client: ShardClient) {
    super(client);
  }

  /**
   * Creates an empty vector named `name` (unique in the cluster).
   * @throws InvalidArgumentError when the name is taken; TypeError/RangeError for bad
   * options, naming the option; MemoryBudgetError when no node has room for a shard.
   * @example
   * ```ts
   * const v = await ShardedVector.create<string>(cluster, 'lines', { maxShardBytes: '1MiB' });
   * ```
   */
  static async create<T>(cluster: Cluster, name: string, options?: VectorOptions): Promise<ShardedVector<T>> {
    const cfg = resolveSharding(name, KIND, END, options);
    const node = options?.node;
    if (node !== undefined && typeof node !== 'string') throw new TypeError(`options.node must be a node id, got ${typeof node}`);
    const client = await createStructure(cluster, cfg, VectorShardType, node === undefined ? {} : { node });
    return new ShardedVector<T>(client);
  }

  /**
   * Opens the vector named `name`, from any node.
   * @throws InvalidArgumentError when there is none, or when `name` is another kind of structure.
   */
  static async open<T>(cluster: Cluster, name: string): Promise<ShardedVector<T>> {
    return new ShardedVector<T>(await openStructure(cluster, name, KIND));
  }

  /**
   * Appends `value`; resolves with its index.
   * @throws TypeError for `undefined`; MemoryBudgetError when the cluster has no memory left for it.
   */
  push(value: T): Promise<number> {
    checkElement(value);
    const ref = this.c.last() as Ref<VectorShard>;
    return ref.call('push', value).catch((e: unknown) => this.c.retry(e, ref, -1, (r) => (r as Ref<VectorShard>).call('push', value)));
  }

  /**
   * Appends every element of `values`, in order, in batches of about
   * `options.batchBytes` with up to `options.inFlightPerShard` in flight. Resolves with
   * the number appended.
   * @throws TypeError for an `undefined` element; MemoryBudgetError when the cluster runs
   * out of memory (the elements appended until then stay).
   */
  async pushAll(values: Iterable<T> | AsyncIterable<T>, options?: BatchOptions): Promise<number> {
    const opts = resolveBatch(options);
    const app = new TailAppender<T>(
      this.c,
      (ref, stream, seq, items, last) => (ref as Ref<VectorShard>).call('append', stream, seq, items, last),
      opts,
    );
    try {
      await feed(values, (v, last) => {
        checkElement(v);
        return app.push(v, estimateBytes(v), last);
      });
      return await app.end();
    } catch (e) {
      await app.settle();
      throw e;
    }
  }

  /**
   * The element at `index`.
   * @throws RangeError when `index` is not below the length.
   */
  get(index: number): Promise<T> {
    checkIndex(index);
    const ref = this.c.route(index) as Ref<VectorShard>;
    return ref.call('get', index).then(undefined, (e: unknown) => this.c.retry(e, ref, index, (r) => (r as Ref<VectorShard>).call('get', index))) as Promise<T>;
  }

  /**
   * Replaces the element at `index`.
   * @throws RangeError when `index` is not below the length; MemoryBudgetError when the
   * new value does not fit.
   */
  set(index: number, value: T): Promise<void> {
    checkIndex(index);
    checkElement(value);
    const ref = this.c.route(index) as Ref<VectorShard>;
    return ref.call('set', index, value).catch((e: unknown) => this.c.retry(e, ref, index, (r) => (r as Ref<VectorShard>).call('set', index, value)));
  }

  /** The number of elements. */
  length(): Promise<number> {
    const ref = this.c.last() as Ref<VectorShard>;
    return ref.call('length').catch((e: unknown) => this.c.retry(e, ref, -1, (r) => (r as Ref<VectorShard>).call('length')));
  }

  /**
   * The elements with indices in `[start, end)`, as an async iterable that prefetches
   * blocks (see {@link PrefetchOptions}). Without `end`, up to the length when the
   * iteration starts.
   * @throws TypeError/RangeError for bad bounds or options.
   */
  range(start = 0, end?: number, options?: PrefetchOptions): VectorRange<T> {
    checkIndex(start, 'start');
    if (end !== undefined) {
      checkIndex(end, 'end');
      if (end < start) throw new RangeError(`end (${end}) must not be below start (${start})`);
    }
    return new VectorRange<T>(this, this.c, start, end, resolvePrefetch(options));
  }

  /** Every element, in order, prefetched as `options` say. */
  values(options?: PrefetchOptions): VectorRange<T> {
    return this.range(0, undefined, options);
  }

  /** Iterates every element in order, with the default prefetching. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.values()[Symbol.asyncIterator]();
  }
}

/**
 * A range of a {@link ShardedVector}: iterate it with `for await`, or collect it with
 * {@link VectorRange.toArray}.
 */
export class VectorRange<T> implements AsyncIterable<T> {
  readonly #vector: ShardedVector<T>;
  readonly #c: ShardClient;
  readonly #prefetch: ResolvedPrefetch;
  /** First index. */
  readonly start: number;
  /** End (exclusive), or undefined for "the length when iteration starts". */
  readonly end: number | undefined;

  /** @internal */
  constructor(vector: ShardedVector<T>, client: ShardClient, start: number, end: number | undefined, prefetch: ResolvedPrefetch) {
    this.#vector = vector;
    this.#c = client;
    this.start = start;
    this.end = end;
    this.#prefetch = prefetch;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.end !== undefined) return this.#iterator(this.end);
    let inner: AsyncIterator<T> | null = null;
    // The end is read when the iteration starts, not when the range is made.
    return {
      next: async (): Promise<IteratorResult<T>> => {
        inner ??= this.#iterator(await this.#vector.length());
        return inner.next();
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (inner?.return !== undefined) return inner.return();
        return { value: undefined, done: true };
      },
    };
  }

  /** Collects the range into an array. */
  async toArray(): Promise<T[]> {
    const end = this.end ?? (await this.#vector.length());
    const it = this.#iterator(end);
    const out: T[] = [];
    for (;;) {
      const block = await it.nextBlock();
      if (block.length === 0) return out;
      for (let i = 0; i < block.length; i++) out.push(block[i]!);
    }
  }

  /**
   * @internal Where the range lives: the parts of `[start, end)` each shard holds and its
   * node, in index order (for the thread pool, to run each part near its data).
   */
  async placement(): Promise<Array<{ start: number; end: number; shard: string; node: string }>> {
    const end = this.end ?? (await this.#vector.length());
    const out: Array<{ start: number; end: number; shard: string; node: string }> = [];
    for (const s of await this.#vector.shards()) {
      const a = Math.max(this.start, s.lo);
      const b = Math.min(end, s.hi, s.lo + s.count);
      if (a < b) out.push({ start: a, end: b, shard: s.id, node: s.node });
    }
    return out;
  }

  /** @internal A block iterator over `[start, end)`; for bulk consumers such as the pool. */
  blocks(end: number): BlockIterator<T> {
    return this.#iterator(end);
  }

  #iterator(end: number): BlockIterator<T> {
    return new BlockIterator<T>(
      this.#c,
      (ref, from, to, maxBytes) => (ref as Ref<VectorShard>).call('scan', from, to, maxBytes) as Promise<{ items: T[]; next: number; density: number }>,
      this.start,
      Math.max(this.start, end),
      this.#prefetch,
    );
  }
}

