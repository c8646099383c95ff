/**
 * Test support for the structure packages: waiting on conditions (never on sleeps), a
 * seeded PRNG, and a loop that forces splits, merges and migrations of a structure's
 * shards while a test runs operations against it.
 */
import type { Cluster } from '@quicksand/core';
import type { ShardedStructure } from './sharded-structure.js';

export { eventually, rejects, rng } from '@quicksand/core/testing';

/** @internal What {@link chaos} did. */
export interface ChaosCounts {
  splits: number;
  merges: number;
  migrations: number;
}

/**
 * @internal Forces splits, merges and migrations of `s`'s shards, chosen by `rand`,
 * until `stop()` returns true and at least `atLeast` of them were tried. A shard that a
 * concurrent merge removed is skipped.
 */
export async function chaos(cluster: Cluster, s: ShardedStructure, nodes: string[], rand: () => number, stop: () => boolean, atLeast = 4): Promise<ChaosCounts> {
  const counts: ChaosCounts = { splits: 0, merges: 0, migrations: 0 };
  for (let tried = 0; tried < atLeast || !stop(); tried++) {
    // The newest routes, without a consistent count of every shard (which churn can starve).
    await s.client.latest();
    const ids = s.client.ids;
    const pick = { id: ids[Math.floor(rand() * ids.length)]! };
    const r = rand();
    try {
      if (r < 0.4) {
        if ((await s.splitShard(pick.id)) !== null) counts.splits++;
      } else if (r < 0.65) {
        if ((await s.mergeShards(pick.id)) !== null) counts.merges++;
      } else {
        await cluster.migrate(pick.id, nodes[Math.floor(rand() * nodes.length)]!, 'chaos');
        counts.migrations++;
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'QS_ERR_PROCLET_NOT_FOUND') throw e;
    }
    // Paced (0-2 ms between moves), so the operations under test make progress: unpaced,
    // forced splits of tiny shards and the automatic merges that fold them back churn the
    // routes faster than a consistent count of every shard can be read.
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 3)));
  }
  return counts;
}
