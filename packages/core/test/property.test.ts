/**
 * Property: many concurrent calls from several nodes, interleaved with random migrations
 * of the same proclets, each complete exactly once with the right result, against a plain
 * model. Seeds are fixed so a failure reproduces.
 */
import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import type { Ref } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { CounterType } from './fixtures/types.js';
import type { Counter } from './fixtures/types.js';
import { rng } from './helpers.js';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('calls racing migrations — property', () => {
  for (const seed of SEEDS) {
    it(`runs every call exactly once, in any interleaving (seed ${seed})`, async () => {
      const rand = rng(seed);
      const nodes = ['n0', 'n1', 'n2'];
      const cluster = await Cluster.start({ nodes: nodes.map(() => ({ cpus: 0, memory: '64MiB' })) });
      try {
        const procs = await Promise.all([0, 1, 2, 3].map((i) => cluster.create(CounterType, [], { node: nodes[i % 3]! })));
        const views = nodes.map((n) => viewFrom(cluster, n));
        const model = new Map<string, string[]>(procs.map((p) => [p.id, []]));
        const issued: Array<Promise<void>> = [];
        let migrations = 0;
        let stop = false;
        const migrator = (async () => {
          while (!stop) {
            const p = procs[Math.floor(rand() * procs.length)]!;
            const to = nodes[Math.floor(rand() * nodes.length)]!;
            await cluster.migrate(p, to, 'property-test');
            migrations++;
            if (rand() < 0.3) await new Promise((r) => setImmediate(r));
          }
        })();
        for (let wave = 0; wave < 30; wave++) {
          for (let k = 0; k < 40; k++) {
            const view = views[Math.floor(rand() * views.length)]!;
            const p = procs[Math.floor(rand() * procs.length)]!;
            const ref: Ref<Counter> = view.ref<Counter>(p.id);
            const tag = `${view.nodeId}:${wave}:${k}`;
            model.get(p.id)!.push(tag);
            const call = rand() < 0.5 ? ref.call('record', tag) : ref.call('recordLater', tag);
            issued.push(
              call.then((len) => {
                expect(len).to.be.a('number').and.greaterThan(0);
              }),
            );
          }
          await new Promise((r) => (rand() < 0.5 ? setImmediate(r) : queueMicrotask(() => r(undefined))));
        }
        await Promise.all(issued);
        stop = true;
        await migrator;
        expect(migrations).to.be.greaterThan(5);
        for (const p of procs) {
          const log = await p.call('getLog');
          const want = model.get(p.id)!;
          expect(log.length, `calls run on ${p.id}`).to.equal(want.length);
          expect([...log].sort()).to.deep.equal([...want].sort());
        }
      } finally {
        await cluster.close();
      }
    });
  }
});
