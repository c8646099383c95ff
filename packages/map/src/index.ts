/**
 * `ShardedMap<K, V>` and `ShardedSet<T>`: a map and a set cut into shards by key hash,
 * each shard a memory proclet that splits when it grows past what migrates fast, merges
 * with a neighbour when it shrinks, and moves to wherever memory is free, while the user
 * sees one map or one set.
 *
 * @example
 * ```ts
 * import { Cluster } from '@quicksand/core';
 * import { ShardedMap, ShardedSet } from '@quicksand/map';
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '256MiB' }, { cpus: 1, memory: '256MiB' }] });
 * const ages = await ShardedMap.create<string, number>(cluster, 'ages');
 * await ages.setMany([['ada', 36], ['alan', 41]]);
 * console.log(await ages.get('ada'), await ages.size());
 * const tags = await ShardedSet.create<string>(cluster, 'tags');
 * await tags.add('fast');
 * console.log(await tags.has('fast'));
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
export { ShardedMap } from './map.js';
export type { MapOptions, ShardKey } from './map.js';
export { ShardedSet } from './set.js';
export type { SetOptions } from './set.js';
export type { HashStructureOptions } from './common.js';
export type { BatchOptions, PrefetchOptions, ShardingOptions, ShardStat, SplitEvent, MergeEvent } from '@quicksand/shard';
