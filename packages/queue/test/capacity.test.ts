import { expect } from 'chai';
import { AbortedError, Cluster } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { rejects, rng, settle } from './helpers.js';

describe('ShardedQueue — capacity and backpressure', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('makes a push wait while the queue is full and lets it in after a pop', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 2 });
    await q.pushAll([1, 2]);
    let done = false;
    const third = q.push(3).then(() => (done = true));
    await settle(10);
    expect(done).to.equal(false);
    expect(await q.length()).to.equal(2);
    expect(await q.pop()).to.equal(1);
    await third;
    expect(await q.tryPop(5)).to.deep.equal([2, 3]);
  });

  it('never holds more than its capacity while a fast producer meets a slow consumer', async () => {
    const capacity = 50;
    const q = await ShardedQueue.create<number>(cluster, { capacity });
    const n = 2_000;
    const producer = (async () => {
      for (let i = 0; i < n; i += 100) await q.pushAll(Array.from({ length: 100 }, (_, j) => i + j));
      await q.close();
    })();
    const random = rng(11);
    const got: number[] = [];
    let maxHeld = 0;
    for (;;) {
      const stats = await q.stats();
      maxHeld = Math.max(maxHeld, stats.length);
      const batch = await q.popMany(1 + Math.floor(random() * 20));
      if (batch.length === 0) break;
      got.push(...batch);
    }
    await producer;
    expect(got).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(maxHeld).to.be.at.most(capacity);
    expect(maxHeld).to.be.greaterThan(0);
  });

  it('lets a push waiting for room be aborted', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 1 });
    await q.push(1);
    const ac = new AbortController();
    const blocked = q.push(2, { signal: ac.signal });
    await settle(10);
    ac.abort();
    expect(await rejects(blocked)).to.be.instanceOf(AbortedError);
    expect(await q.tryPop(5)).to.deep.equal([1]);
    await q.push(3);
    expect(await q.pop()).to.equal(3);
  });

  it('fails pushes waiting for room when the queue closes', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 1 });
    await q.push(1);
    const other = ShardedQueue.open<number>(cluster, q.id);
    const blocked = other.push(2);
    await settle(10);
    await q.close();
    expect((await rejects(blocked)).name).to.equal('ClosedError');
  });
});
