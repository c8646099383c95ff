/**
 * `ShardedMap<K, V>`: the client handle of a map whose entries live in shards that own
 * ranges of the keys' 32-bit hash.
 *
 * Semantics:
 * - Keys are strings or numbers, compared as a native `Map` compares them (SameValueZero:
 *   `1` and `'1'` are different keys). Values are any plain data but `undefined` (use
 *   `delete`); they cross the wire through the codec, so a value read from another node
 *   is a copy.
 * - Each single-key operation is atomic on its shard and, once its promise resolved,
 *   visible to every later operation from any node. Operations not awaited one after the
 *   other have no order between them.
 * - `setMany` batches per shard; when a key appears more than once, its last value wins.
 * - `size()` counts every shard once, also while shards split or merge.
 * - Iteration (`entries`, `keys`, `values`, `for await`) walks the hash space in order
 *   and yields every entry present for the whole iteration exactly once, while shards
 *   split, merge or migrate; entries written or deleted during it may or may not appear.
 *
 * Not handled: other key types (objects, bigints); transactions across keys.
 */
import type { Cluster, Ref } from '@quicksand/core';
import { KeyedBulkWriter, feed, estimateBytes, hashKey, resolveBatch, resolvePrefetch, ENTRY_OVERHEAD } from '@quicksand/shard/internal';
import type { ShardClient } from '@quicksand/shard/internal';
import { ShardedStructure } from '@quicksand/shard';
import type { BatchOptions, PrefetchOptions } from '@quicksand/shard';
import { createHash, getManyHashed, iterable, openHash, sampleBytes, scanAll } from './common.js';
import type { HashStructureOptions } from './common.js';
import { MapShardType } from './shards.js';
import type { MapShard } from './shards.js';

/** Options of {@link ShardedMap.create}. */
export type MapOptions = HashStructureOptions;

/** Keys a sharded map or set accepts. */
export type ShardKey = string | number;

const KIND = 'map';

function checkValue(v: unknown): void {
  if (v === undefined) throw new TypeError('map values must not be undefined (delete the key instead)');
}

/**
 * A map sharded across the cluster by key hash: one map to the user, shards of a bounded
 * size underneath that split as it grows, merge as it shrinks, and move to wherever
 * memory is free.
 *
 * @typeParam K - key type: `string`, `number`, or a union of them.
 * @typeParam V - value type (plain data).
 * @example
 * ```ts
 * const users = await ShardedMap.create<string, { name: string }>(cluster, 'users');
 * await users.set('u1', { name: 'Ada' });
 * await users.setMany(rows.map((r) => [r.id, r]));   // batched per shard
 * console.log(await users.get('u1'), await users.size());
 * for await (const [id, user] of users) console.log(id, user.name);
 * ```
 */
export class ShardedMap<K extends ShardKey, V> extends ShardedStructure implements AsyncIterable<[K, V]> {
  private constructor(client: ShardClient) {
    super(client);
  }

  /**
   * Creates an empty map named `name` (unique in the cluster).
   * @throws InvalidArgumentError when the name is taken; TypeError/RangeError for bad
   * options, naming the option; MemoryBudgetError when no node has room for a shard.
   * @example
   * ```ts
   * const m = await ShardedMap.create<number, string>(cluster, 'labels', { maxShardBytes: '256KiB' });
   * ```
   */
  static async create<K extends ShardKey, V>(cluster: Cluster, name: string, options?: MapOptions): Promise<ShardedMap<K, V>> {
    return new ShardedMap<K, V>(await createHash(cluster, name, KIND, MapShardType, options));
  }

  /**
   * Opens the map named `name`, from any node.
   * @throws InvalidArgumentError when there is none, or when `name` is another kind of structure.
   */
  static async open<K extends ShardKey, V>(cluster: Cluster, name: string): Promise<ShardedMap<K, V>> {
    return new ShardedMap<K, V>(await openHash(cluster, name, KIND));
  }

  /**
   * The value of `key`, or undefined.
   * @throws TypeError when `key` is neither a string nor a number.
   */
  get(key: K): Promise<V | undefined> {
    const h = hashKey(key);
    const ref = this.c.route(h) as Ref<MapShard>;
    return ref.call('get', h, key).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<MapShard>).call('get', h, key))) as Promise<V | undefined>;
  }

  /** Whether `key` is present. */
  has(key: K): Promise<boolean> {
    const h = hashKey(key);
    const ref = this.c.route(h) as Ref<MapShard>;
    return ref.call('has', h, key).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<MapShard>).call('has', h, key)));
  }

  /**
   * Sets `key` to `value`.
   * @throws TypeError for a bad key or an `undefined` value; MemoryBudgetError when the
   * cluster has no memory left for it.
   */
  set(key: K, value: V): Promise<void> {
    const h = hashKey(key);
    checkValue(value);
    const ref = this.c.route(h) as Ref<MapShard>;
    return ref.call('set', h, key, value).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<MapShard>).call('set', h, key, value)));
  }

  /** Removes `key`; resolves true when it was present. */
  delete(key: K): Promise<boolean> {
    const h = hashKey(key);
    const ref = this.c.route(h) as Ref<MapShard>;
    return ref.call('delete', h, key).catch((e: unknown) => this.c.retry(e, ref, h, (r) => (r as Ref<MapShard>).call('delete', h, key)));
  }

  /**
   * The values of `keys`, in the same order (undefined for absent keys), read with one
   * batched call per shard.
   */
  async getMany(keys: Iterable<K>): Promise<Array<V | undefined>> {
    const ks = [...keys];
    const hs = ks.map((k) => hashKey(k));
    return getManyHashed<V | undefined>(this.c, hs, ks, (ref, h, k) => (ref as Ref<MapShard>).call('getMany', h, k) as Promise<[Array<V | undefined>, number[] | null, number]>);
  }

  /**
   * Sets every entry, buffered per shard and sent in batches of about
   * `options.batchBytes`, up to `options.inFlightPerShard` per shard at once. When a key
   * appears more than once, its last value wins. Resolves with the number of entries read.
   * @throws TypeError for a bad key or value; MemoryBudgetError when the cluster runs out
   * of memory (entries applied until then stay).
   */
  async setMany(entries: Iterable<readonly [K, V]> | AsyncIterable<readonly [K, V]>, options?: BatchOptions): Promise<number> {
    if (Array.isArray(entries)) await this.c.presplitFor(entries.length, sampleBytes(entries as ReadonlyArray<readonly [K, V]>, (e) => ENTRY_OVERHEAD + estimateBytes(e[0]) + estimateBytes(e[1])));
    const w = new KeyedBulkWriter<K, V>(
      this.c,
      (ref, batch) => (ref as Ref<MapShard>).call('setMany', batch.hs, batch.ks, batch.vs),
      resolveBatch(options),
    );
    let n = 0;
    const one = (e: readonly [K, V]): void | Promise<void> => {
      const k = e[0];
      const v = e[1];
      const h = hashKey(k);
      checkValue(v);
      n++;
      return w.write(h, k, v, ENTRY_OVERHEAD + estimateBytes(k) + estimateBytes(v));
    };
    try {
      await feed(entries, one);
      await w.flush();
    } catch (e) {
      await w.settle();
      throw e;
    }
    return n;
  }

  /** The number of entries. */
  async size(): Promise<number> {
    return this.c.countAll((ref, from, to) => (ref as Ref<MapShard>).call('countRange', from, to));
  }

  /** Every `[key, value]` entry, in hash order, prefetched as `options` say. */
  entries(options?: PrefetchOptions): AsyncIterableIterator<[K, V]> {
    const p = resolvePrefetch(options);
    return iterable(() => scanAll<[K, V]>(this.c, 0, p));
  }

  /** Every key, in hash order. */
  keys(options?: PrefetchOptions): AsyncIterableIterator<K> {
    const p = resolvePrefetch(options);
    return iterable(() => scanAll<K>(this.c, 1, p));
  }

  /** Every value, in the hash order of their keys. */
  values(options?: PrefetchOptions): AsyncIterableIterator<V> {
    const p = resolvePrefetch(options);
    return iterable(() => scanAll<V>(this.c, 2, p));
  }

  /** Iterates every entry with the default prefetching. */
  [Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    return this.entries();
  }

}
