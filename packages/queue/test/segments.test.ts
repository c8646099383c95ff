import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { eventually } from './helpers.js';

describe('ShardedQueue — segments split as it grows and are reclaimed when drained', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    // n0 is small: new tail segments belong on the nodes with free memory.
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '1MiB' }, { cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('absorbs a burst in new tail segments on the nodes with free memory, in order, then reclaims them', async () => {
    const q = await ShardedQueue.create<string>(cluster, { segmentBytes: '4KiB', node: 'n0' });
    const items = Array.from({ length: 3_000 }, (_, i) => `item-${i}`);
    for (let i = 0; i < items.length; i += 100) await q.pushAll(items.slice(i, i + 100));
    const segs = await q.segments();
    expect(segs.length).to.be.greaterThan(3);
    expect(segs[0]!.node).to.equal('n0');
    expect(segs.slice(1).every((s) => s.node !== 'n0')).to.equal(true);
    expect(segs.reduce((a, s) => a + s.length, 0)).to.equal(items.length);
    const out: string[] = [];
    for (;;) {
      const batch = await q.tryPop(250);
      if (batch.length === 0) break;
      out.push(...batch);
    }
    expect(out).to.deep.equal(items);
    await eventually(async () => (await q.stats()).segments === 1, 'drained segments reclaimed');
    const stats = await q.stats();
    expect(stats.segmentsReclaimed).to.equal(stats.segmentsCreated - 1);
    // The tail, and the spare prepared to succeed it.
    const live = (await cluster.stats()).proclets.filter((p) => p.type === 'quicksand.queue.Segment');
    expect(live.length).to.equal(2);
  });
});
