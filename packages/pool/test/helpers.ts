/** Test helpers: the shared ones (`@quicksand/core/testing`), and a cluster with a pool. */
import { Cluster } from '@quicksand/core';
import type { NodeSpec } from '@quicksand/core';
import { ThreadPool } from '@quicksand/pool';

export { Deferred, eventually, rejects, rng, settle } from '@quicksand/core/testing';

/** Two in-process nodes with one CPU each. */
export const TWO_NODES: NodeSpec[] = [
  { cpus: 1, memory: '64MiB' },
  { cpus: 1, memory: '64MiB' },
];

/**
 * Starts a cluster of `nodes` and a pool on it before each test, and closes both after.
 * Read them from the returned object inside the tests.
 */
export function usePool(nodes: NodeSpec[] = TWO_NODES): { readonly cluster: Cluster; readonly pool: ThreadPool } {
  const env = {} as { cluster: Cluster; pool: ThreadPool };
  beforeEach(async () => {
    env.cluster = await Cluster.start({ nodes });
    env.pool = await ThreadPool.create(env.cluster);
  });
  afterEach(async () => {
    await env.pool.close();
    await env.cluster.close();
  });
  return env;
}
