/**
 * `@quicksand/queue`: a queue sharded into segment proclets. Producers and consumers may
 * be on any node; order is kept per producer; each item is delivered exactly once, also
 * while segments split, are reclaimed or migrate; an optional capacity makes `push` wait
 * (backpressure).
 *
 * @example
 * ```ts
 * import { Cluster } from '@quicksand/core';
 * import { ShardedQueue } from '@quicksand/queue';
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
 * const q = await ShardedQueue.create<string>(cluster, { capacity: 100 });
 * const consumer = (async () => { const seen: string[] = []; for await (const x of q) seen.push(x); return seen; })();
 * await q.pushAll(['a', 'b', 'c']);
 * await q.close();
 * console.log(await consumer); // ['a', 'b', 'c']
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
export { ShardedQueue } from './queue.js';
export type { QueueOptions, WaitOptions } from './queue.js';
export type { QueueStats } from './queue-index.js';
export type { SegmentInfo } from './segment.js';
