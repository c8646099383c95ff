/**
 * The sharding library under `@quicksand/vector` and `@quicksand/map`: a structure's data
 * is cut into shards, each a memory proclet owning one key range, that split when they
 * grow past what migrates fast, merge when they shrink, and move to wherever memory is
 * free. A versioned index proclet per structure maps key ranges to shards; clients cache
 * those routes, shards refuse keys they no longer own, and clients pull the changes and
 * retry, so the index is never on the hot path.
 *
 * Most users install a structure package instead; this one exports the options, events
 * and helpers those packages share. What structures build on (the index and shard
 * proclets, the route cache, bulk writers and iterators) is in `@quicksand/shard/internal`.
 *
 * @example
 * ```ts
 * import { Cluster } from '@quicksand/core';
 * import type { SplitEvent } from '@quicksand/shard';
 * import { ShardedVector } from '@quicksand/vector';
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
 * cluster.on('split', (e: SplitEvent) => console.log(`${e.structure}: ${e.shard} split at ${e.at}, new shard on ${e.to}`));
 * const v = await ShardedVector.create<number>(cluster, 'numbers', { maxShardBytes: '64KiB' });
 * await v.pushAll(Array.from({ length: 100_000 }, (_, i) => i));
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
import type { MergeEvent, SplitEvent } from './index-proclet.js';

export { hashKey, HASH_SPACE } from './hash.js';
export { estimateBytes, ENTRY_OVERHEAD } from './size.js';
export { MIGRATION_BYTES_PER_MS, DEFAULT_TARGET_MIGRATION_MS, MIN_SHARD_BYTES } from './options.js';
export type { ShardingOptions, BatchOptions, PrefetchOptions } from './options.js';
export type { SplitEvent, MergeEvent } from './index-proclet.js';
export type { ShardStat } from './protocol.js';
export { ShardedStructure } from './sharded-structure.js';

declare module '@quicksand/core' {
  interface ClusterEvents {
    /** A shard of a sharded structure split in two. */
    split: SplitEvent;
    /** Two neighbouring shards of a sharded structure merged. */
    merge: MergeEvent;
  }
}
