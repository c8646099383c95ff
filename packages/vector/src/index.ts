/**
 * `ShardedVector<T>`: a vector cut into shards, each a memory proclet, that split when
 * they grow past what migrates fast and move to wherever memory is free, while the user
 * sees one vector.
 *
 * @example
 * ```ts
 * import { Cluster } from '@quicksand/core';
 * import { ShardedVector } from '@quicksand/vector';
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '256MiB' }, { cpus: 1, memory: '256MiB' }] });
 * const v = await ShardedVector.create<number>(cluster, 'samples');
 * await v.pushAll(Array.from({ length: 100_000 }, (_, i) => i * 0.5));
 * let sum = 0;
 * for await (const x of v) sum += x;
 * console.log(await v.length(), sum, (await v.shards()).length);
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
export { ShardedVector, VectorRange } from './vector.js';
export type { VectorOptions } from './vector.js';
export type { BatchOptions, PrefetchOptions, ShardingOptions, ShardStat, SplitEvent, MergeEvent } from '@quicksand/shard';
