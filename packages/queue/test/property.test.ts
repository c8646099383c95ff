import { expect } from 'chai';
import { Cluster, hasErrorCode } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { ShardedQueue } from '@quicksand/queue';
import { rng } from './helpers.js';

type Item = [producer: number, seq: number];

describe('ShardedQueue — producers and consumers racing splits and migrations (property)', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`delivers every item exactly once, in order per producer (seed ${seed})`, async () => {
      const random = rng(seed);
      const nodes = ['n0', 'n1', 'n2'];
      const capacity = seed % 2 === 0 ? 64 : 0;
      const q = await ShardedQueue.create<Item>(cluster, { capacity, segmentBytes: capacity > 0 ? '512B' : '2KiB', node: 'n0' });
      const perProducer = 600;
      const producers = nodes.map(async (node, p) => {
        const h = ShardedQueue.open<Item>(viewFrom(cluster, node), q.id);
        for (let i = 0; i < perProducer; ) {
          const k = Math.min(perProducer - i, 1 + Math.floor(random() * 40));
          const batch = Array.from({ length: k }, (_, j): Item => [p, i + j]);
          if (k === 1) await h.push(batch[0]!);
          else await h.pushAll(batch);
          i += k;
        }
      });
      const consumers = ['n1', 'n2'].map(async (node) => {
        const h = ShardedQueue.open<Item>(viewFrom(cluster, node), q.id);
        const seen: Item[] = [];
        for (;;) {
          const r = random();
          if (r < 0.4) {
            const x = await h.pop();
            if (x === undefined) break;
            seen.push(x);
          } else if (r < 0.7) {
            const xs = await h.popMany(1 + Math.floor(random() * 30));
            if (xs.length === 0) break;
            seen.push(...xs);
          } else {
            seen.push(...(await h.tryPop(1 + Math.floor(random() * 30))));
            await new Promise((res) => setImmediate(res));
          }
        }
        return seen;
      });
      let running = true;
      let migrations = 0;
      const chaos = (async () => {
        while (running) {
          const segs = await q.segments().catch(() => []);
          const ids = [q.id, ...segs.map((s) => s.id)];
          const id = ids[Math.floor(random() * ids.length)]!;
          try {
            await cluster.migrate(id, nodes[Math.floor(random() * nodes.length)]!);
            migrations++;
          } catch (e) {
            // A segment reclaimed meanwhile, or one moving already: both are fine here.
            if (!hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND') && !hasErrorCode(e, 'QS_ERR_MIGRATION')) throw e;
          }
          await new Promise((res) => setTimeout(res, 1));
        }
      })();
      await Promise.all(producers);
      await q.close();
      const seen = await Promise.all(consumers);
      running = false;
      await chaos;
      const all = seen.flat();
      expect(all.length).to.equal(nodes.length * perProducer);
      const keys = new Set(all.map(([p, i]) => p * 1e6 + i));
      expect(keys.size).to.equal(all.length);
      for (const consumer of seen) {
        const last = new Map<number, number>();
        for (const [p, i] of consumer) {
          expect(i).to.be.greaterThan(last.get(p) ?? -1);
          last.set(p, i);
        }
      }
      expect(migrations).to.be.greaterThan(0);
      const stats = await q.stats();
      expect(stats.segmentsCreated).to.be.greaterThan(1);
      expect(stats.pushed).to.equal(all.length);
      expect(stats.popped).to.equal(all.length);
    });
  }
});
