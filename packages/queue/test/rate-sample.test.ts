import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { rateSample } from '@quicksand/queue/internal';
import { eventually } from './helpers.js';

describe('ShardedQueue — what rate matching reads (internal)', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('logs each reported pop with its time and running count, and counts takes that found the queue empty', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 100, node: 'n1' });
    await q.pushAll([1, 2, 3, 4, 5, 6]);
    const t0 = (await rateSample(cluster, q.id, -Infinity)).at;
    expect(await q.popMany(2)).to.deep.equal([1, 2]);
    expect(await q.popMany(3)).to.deep.equal([3, 4, 5]);
    await eventually(async () => (await rateSample(cluster, q.id, -Infinity)).popped === 5, 'both pops reported');
    const s = await rateSample(cluster, q.id, -Infinity);
    expect(s).to.include({ length: 1, pushed: 6, popped: 5, capacity: 100, starved: 0, waitedAt: null });
    // Two reports, dated in order between the first sample and this one.
    expect(s.pops.filter((_, i) => i % 2 === 1)).to.deep.equal([2, 5]);
    expect(s.pops[0]).to.be.within(t0, s.at);
    expect(s.pops[2]).to.be.within(s.pops[0]!, s.at);
    // Only the reports after a count.
    expect((await rateSample(cluster, q.id, 2)).pops.filter((_, i) => i % 2 === 1)).to.deep.equal([5]);
    expect((await rateSample(cluster, q.id, 5)).pops).to.deep.equal([]);

    // A take that finds the queue empty: one that comes back empty, one that waits.
    expect(await q.popMany(5)).to.deep.equal([6]);
    expect(await q.tryPop(1)).to.deep.equal([]);
    const waiting = q.popMany(1);
    await eventually(async () => (await rateSample(cluster, q.id, -Infinity)).starved === 2, 'two empty takes reported');
    const parked = await rateSample(cluster, q.id, -Infinity);
    expect(parked.waitedAt).to.be.a('number').and.within(s.at, parked.at);
    await q.push(7);
    expect(await waiting).to.deep.equal([7]);
    // Serving the waiting take dates the end of the wait, with the pop that served it.
    await eventually(async () => (await rateSample(cluster, q.id, -Infinity)).popped === 7, 'the served pop reported');
    const served = await rateSample(cluster, q.id, -Infinity);
    expect(served.waitedAt).to.be.above(parked.waitedAt!);
    expect(served.waitedAt).to.equal(served.pops[served.pops.length - 2]);
  });

  it('keeps its pop log and counters when the index migrates', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 10, node: 'n0' });
    await q.pushAll([1, 2, 3]);
    await q.popMany(2);
    await q.popMany(1);
    await q.tryPop(1);
    await eventually(async () => (await rateSample(cluster, q.id, -Infinity)).starved === 1, 'reports in');
    const before = await rateSample(cluster, q.id, -Infinity);
    await cluster.migrate(q.id, 'n1');
    const after = await rateSample(cluster, q.id, -Infinity);
    expect(after).to.include({ popped: 3, starved: 1, pushed: 3 });
    expect(after.waitedAt).to.be.a('number').and.at.most(after.at - (before.at - before.waitedAt!));
    expect(after.pops.filter((_, i) => i % 2 === 1)).to.deep.equal(before.pops.filter((_, i) => i % 2 === 1));
    // The reports keep their ages (to within the move), on the new clock.
    const ageBefore = before.at - before.pops[0]!;
    const ageAfter = after.at - after.pops[0]!;
    expect(ageAfter).to.be.at.least(ageBefore);
  });
});
