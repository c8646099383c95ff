/**
 * `@quicksand/pool`: the distributed thread pool. Compute proclets placed where CPUs are
 * free run single tasks (`run`) and data-parallel jobs (`map`, `filter`, `forEach`,
 * `reduce`) over sharded vectors and maps, queues, arrays, typed arrays and (async)
 * iterables, into a new sharded vector, an array or a queue. A job's work is cut
 * into ranges that travel many elements per worker message; idle compute proclets steal
 * half of the largest remaining range; parked ones join when their node frees a CPU; and
 * a job feeding a queue suspends and resumes compute proclets to match its consumer.
 *
 * @example
 * ```ts
 * import { Cluster } from '@quicksand/core';
 * import { ThreadPool } from '@quicksand/pool';
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
 * const pool = await ThreadPool.create(cluster);
 * const squares = await pool.map([1, 2, 3, 4], (x: number) => x * x);       // [1, 4, 9, 16]
 * const sum = await pool.reduce(squares, (acc: number, x: number) => acc + x, 0, (a, b) => a + b); // 30
 * await pool.close();
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
export { ThreadPool } from './pool.js';
export type { PoolOptions, RunOptions, QueueOutputOptions, VectorOutputOptions, ArrayOutputOptions, ElementFn, ElementTask, ReduceTask, PoolStats } from './pool.js';
export type { JobOptions, JobProgress } from './job.js';
export type { Task } from './task.js';
export type { PoolSource } from './sources.js';
