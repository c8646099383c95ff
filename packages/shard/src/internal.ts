/**
 * What the structure packages (`@quicksand/vector`, `@quicksand/map`, `@quicksand/queue`)
 * and the thread pool build on: the index and shard proclets, the route cache, bulk
 * writers and prefetching iterators. No stability promise.
 *
 * @internal
 * @packageDocumentation
 */
/** @internal */
export { ShardBase } from './shard-base.js';
export type { ShardBaseState, ShardType } from './shard-base.js';
/** @internal */
export { ShardIndex, ShardIndexType, lowerBound } from './index-proclet.js';
export type { IndexState } from './index-proclet.js';
/** @internal */
export { ShardClient, MAX_ATTEMPTS } from './client.js';
/** @internal */
export { BlockIterator } from './iterate.js';
export type { ScanFn } from './iterate.js';
/** @internal */
export { KeyedBulkWriter, TailAppender, feed } from './bulk.js';
export type { KeyedBatch, KeyedBatchResult, KeyedSendFn, AppendFn } from './bulk.js';
/** @internal */
export { createStructure, openStructure, destroyStructure } from './structure.js';
export type { PlacementOptions } from './structure.js';
/** @internal */
export { resolveSharding, resolveBatch, resolvePrefetch, DEFAULT_BATCH, DEFAULT_PREFETCH } from './options.js';
export type { ShardConfig, ResolvedBatch, ResolvedPrefetch } from './options.js';
/** @internal */
export { END, STALE_RANGE, STALE_FULL, STALE_MEMORY } from './protocol.js';
export type { RouteChange, RouteDelta, SplitOut, ScanBlock } from './protocol.js';
/** @internal */
export { hashKey, HASH_SPACE } from './hash.js';
/** @internal */
export { estimateBytes, ENTRY_OVERHEAD } from './size.js';
/** @internal */
export { eventually, rng, rejects, chaos } from './testing.js';
export type { ChaosCounts } from './testing.js';
