/**
 * `ShardedSet<T>`: the client handle of a set whose members live in shards that own
 * ranges of the members' 32-bit hash. Same model as `ShardedMap` (see map.ts): members
 * are strings or numbers compared with SameValueZero, single operations are atomic on
 * their shard, `size()` counts each shard once, iteration yields every member present for
 * the whole iteration exactly once while shards split, merge or migrate.
 */
import type { Cluster, Ref } from '@quicksand/core';
import { KeyedBulkWriter, feed, estimateBytes, hashKey, resolveBatch, resolvePrefetch, ENTRY_OVERHEAD } from '@quicksand/shard/internal';
import type { ShardClient } from '@quicksand/shard/internal';
import { ShardedStructure } from '@quicksand/shard';
import type { BatchOptions, PrefetchOptions } from '@quicksand/shard';
import { createHash, iterable, openHash, sampleBytes, scanAll } from './common.js';
import type { HashStructureOptions } from './common.js';
import type { ShardKey } from './map.js';
import { SetShardType } from './shards.js';
import type { SetShard } from './shards.js';

/** Options of {@link ShardedSet.create}. */
export type SetOptions = HashStructureOptions;

const KIND = 'set';

/**
 * A set sharded across the cluster by member hash.
 *
 * @typeParam T - member type: `string`, `number`, or a union of them.
 * @example
 * ```ts
 * const seen = await ShardedSet.create<string>(cluster, 'seen-urls');
 * if (await seen.add(url)) crawl(url);           // true when it was new
 * console.log(await seen.has(url), await seen.size());
 * for await (const u of seen) console.log(u);
 * ```
 */
export class ShardedSet<T extends ShardKey> extends ShardedStructure implements AsyncIterable<T> {
  private constructor(client: ShardClient) {
    super(client);
  }

  /**
   * Creates an empty set named `name` (unique in the cluster).
   * @throws InvalidArgumentError when the name is taken; TypeError/RangeError for bad
   * options; MemoryBudgetError when no node has room for a shard.
   */
  static async create<T extends ShardKey>(cluster: Cluster, name: string, options?: SetOptions): Promise<ShardedSet<T>> {
    return new ShardedSet<T>(await createHash(cluster, name, KIND, SetShardType, options));
  }

  /**
   * Opens the set named `name`, from any node.
   * @throws InvalidArgumentError when there is none, or when `name` is another kind of structure.
   */
  static async open<T extends ShardKey>(cluster: Cluster, name: string): Promise<ShardedSet<T>> {
    return new ShardedSet<T>(await openHash(cluster, name, KIND));
  }

  /**
   * Adds `value`; resolves true when it was not a member yet.
   * @throws TypeError when `value` is neither a string nor a number; MemoryBudgetError
   * when the cluster has no memory left for it.
   */
  add(value: T): Promise<boolean> {
    const h = hashKey(value);
    const ref = this.c.route(h) as Ref<SetShard>;
    return ref.call('add', h, value).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<SetShard>).call('add', h, value)));
  }

  /** Whether `value` is a member. */
  has(value: T): Promise<boolean> {
    const h = hashKey(value);
    const ref = this.c.route(h) as Ref<SetShard>;
    return ref.call('has', h, value).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<SetShard>).call('has', h, value)));
  }

  /** Removes `value`; resolves true when it was a member. */
  delete(value: T): Promise<boolean> {
    const h = hashKey(value);
    const ref = this.c.route(h) as Ref<SetShard>;
    return ref.call('delete', h, value).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<SetShard>).call('delete', h, value)));
  }

  /**
   * Adds every value, batched per shard like `ShardedMap.setMany`. Resolves with the
   * number of values read.
   */
  async addAll(values: Iterable<T> | AsyncIterable<T>, options?: BatchOptions): Promise<number> {
    if (Array.isArray(values)) await this.c.presplitFor(values.length, sampleBytes(values as readonly T[], (v) => ENTRY_OVERHEAD + estimateBytes(v)));
    const w = new KeyedBulkWriter<T, null>(
      this.c,
      (ref, batch) => (ref as Ref<SetShard>).call('addMany', batch.hs, batch.ks),
      resolveBatch(options),
    );
    let n = 0;
    const one = (v: T): void | Promise<void> => {
      n++;
      return w.write(hashKey(v), v, null, ENTRY_OVERHEAD + estimateBytes(v));
    };
    try {
      await feed(values, one);
      await w.flush();
    } catch (e) {
      await w.settle();
      throw e;
    }
    return n;
  }

  /** The number of members. */
  async size(): Promise<number> {
    return this.c.countAll((ref, from, to) => (ref as Ref<SetShard>).call('countRange', from, to));
  }

  /** Every member, in hash order, prefetched as `options` say. */
  values(options?: PrefetchOptions): AsyncIterableIterator<T> {
    const p = resolvePrefetch(options);
    return iterable(() => scanAll<T>(this.c, 1, p));
  }

  /** Iterates every member with the default prefetching. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.values();
  }

}
