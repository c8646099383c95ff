import { expect } from 'chai';
import { Cluster, MigrationError } from '@quicksand/core';
import { killInProcessNode } from '@quicksand/core/internal';
import { ThreadPool } from '@quicksand/pool';
import { rejects } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('ThreadPool runners — moves that fail', () => {
  it('goes on running chunks on a runner whose move failed', async () => {
    const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    try {
      const pool = await ThreadPool.create(cluster, { threads: 1 });
      const square = pool.task<number, number>(tasks, 'square');
      const items = Array.from({ length: 200 }, (_, i) => i);
      expect(await pool.map(items, square)).to.deep.equal(items.map((i) => i * i));
      const runner = (await cluster.stats()).proclets.find((p) => p.kind === 'compute')!;
      // On the controller's node, the move's first half (the runner's hook) runs before the
      // call returns; the target dies before the runner's state can reach it.
      if (runner.node !== 'n0') await cluster.migrate(runner.id, 'n0');
      const move = cluster.migrate(runner.id, 'n1');
      await killInProcessNode(cluster, 'n1');
      expect(await rejects(move)).to.be.instanceOf(MigrationError);
      expect(await cluster.locate(runner.id)).to.equal('n0');
      // The runner stayed, and runs the next job's chunks (it used to hand each one back).
      expect(await pool.map(items, square)).to.deep.equal(items.map((i) => i * i));
      await pool.close();
    } finally {
      await cluster.close();
    }
  });
});
