/**
 * What sibling `@quicksand/*` packages need from the queue and users must not touch.
 * No stability promise.
 *
 * @internal
 * @packageDocumentation
 */
import type { Cluster } from '@quicksand/core';
import type { QueueIndex, RateSample } from './queue-index.js';

/** @internal */
export { approxBytes } from './sizes.js';
/** @internal */
export type { RateSample } from './queue-index.js';

/**
 * @internal Counters of the queue `id` and the pops its index heard of since `after`
 * (a `popped` count), dated: what a pool's rate matching measures a consumer with.
 */
export function rateSample(cluster: Cluster, id: string, after: number): Promise<RateSample> {
  return cluster.ref<QueueIndex>(id).call('rateSample', after);
}
