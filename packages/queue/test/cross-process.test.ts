import { expect } from 'chai';
import type { Cluster } from '@quicksand/core';
import { hasErrorCode } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { ShardedQueue } from '@quicksand/queue';
import { ConsumerType, ProducerType } from './fixtures/types.js';
import { rng } from './helpers.js';

type Item = [producer: number, seq: number];

describe('ShardedQueue — producers and consumers in separate node processes', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }], logs: 'silent' });
  });
  after(async () => {
    await cluster.close();
  });

  it('delivers every item once, in order per producer, while segments split and migrate between processes', async () => {
    const q = await ShardedQueue.create<Item>(cluster, { capacity: 200, segmentBytes: '2KiB' });
    const perProducer = 1_500;
    const producers = await Promise.all(['n1', 'n2'].map((node) => cluster.create(ProducerType, [], { node })));
    const consumers = await Promise.all(['n1', 'n2'].map((node) => cluster.create(ConsumerType, [], { node })));
    const consumed = consumers.map((c) => c.call('consume', q));
    const random = rng(42);
    let moving = true;
    let migrations = 0;
    const chaos = (async () => {
      while (moving) {
        const segs = await q.segments();
        const seg = segs[Math.floor(random() * segs.length)];
        if (seg !== undefined) {
          try {
            await cluster.migrate(seg.id, ['n0', 'n1', 'n2'][Math.floor(random() * 3)]!);
            migrations++;
          } catch (e) {
            if (!hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND') && !hasErrorCode(e, 'QS_ERR_MIGRATION')) throw e;
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    // This process produces too, as producer 2, and consumes as a third consumer.
    const local: Item[] = [];
    const localConsumer = (async () => {
      for await (const x of q) local.push(x);
    })();
    await Promise.all([
      ...producers.map((p, i) => p.call('produce', q, i, perProducer, 37)),
      q.pushAll(Array.from({ length: perProducer }, (_, i): Item => [2, i])),
    ]);
    await q.close();
    const remote = await Promise.all(consumed);
    await localConsumer;
    moving = false;
    await chaos;
    const all = [...remote.flat(), ...local];
    expect(all).to.have.length(3 * perProducer);
    expect(new Set(all.map(([p, i]) => p * 1e6 + i)).size).to.equal(all.length);
    for (const seen of [...remote, local]) {
      const last = new Map<number, number>();
      for (const [p, i] of seen) {
        expect(i).to.be.greaterThan(last.get(p) ?? -1);
        last.set(p, i);
      }
    }
    expect(migrations).to.be.greaterThan(0);
    expect((await q.stats()).segmentsCreated).to.be.greaterThan(1);
  });
});
