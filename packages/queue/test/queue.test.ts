import { expect } from 'chai';
import { AbortedError, ClosedError, Cluster } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { ShardedQueue } from '@quicksand/queue';
import { rejects, settle } from './helpers.js';

describe('ShardedQueue — pushing and popping', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('pops items in the order they were pushed, one at a time or several', async () => {
    const q = await ShardedQueue.create<number>(cluster);
    await q.push(1);
    await q.pushAll([2, 3, 4, 5]);
    expect(await q.length()).to.equal(5);
    expect(await q.pop()).to.equal(1);
    expect(await q.tryPop(3)).to.deep.equal([2, 3, 4]);
    expect(await q.popMany(10)).to.deep.equal([5]);
    expect(await q.tryPop(2)).to.deep.equal([]);
    expect(await q.length()).to.equal(0);
  });

  it('keeps a pop waiting until an item arrives', async () => {
    const q = await ShardedQueue.create<string>(cluster);
    let got: string | undefined | null = null;
    const pop = q.pop().then((x) => (got = x));
    await settle();
    expect(got).to.equal(null);
    await q.push('late');
    await pop;
    expect(got).to.equal('late');
  });

  it('drains what is left after close, then ends pops and iteration, and refuses pushes', async () => {
    const q = await ShardedQueue.create<number>(cluster);
    await q.pushAll([1, 2, 3]);
    const waiting = ShardedQueue.open<number>(cluster, q.id);
    await q.close();
    const seen: number[] = [];
    for await (const x of waiting) seen.push(x);
    expect(seen).to.deep.equal([1, 2, 3]);
    expect(await q.pop()).to.equal(undefined);
    expect(await rejects(q.push(4))).to.be.instanceOf(ClosedError);
  });

  it('wakes a waiting pop with undefined when the queue closes empty', async () => {
    const q = await ShardedQueue.create<number>(cluster);
    const pop = q.pop();
    await settle();
    await q.close();
    expect(await pop).to.equal(undefined);
  });

  it('lets producers and consumers on other nodes use the same queue by id', async () => {
    const q = await ShardedQueue.create<{ n: number }>(cluster, { node: 'n0' });
    const remote = ShardedQueue.open<{ n: number }>(viewFrom(cluster, 'n1'), JSON.parse(JSON.stringify(q)) as { id: string });
    const popped = remote.pop();
    await q.pushAll([{ n: 1 }, { n: 2 }]);
    expect(await popped).to.deep.equal({ n: 1 });
    await remote.push({ n: 3 });
    expect(await q.tryPop(5)).to.deep.equal([{ n: 2 }, { n: 3 }]);
  });

  it('rejects an aborted pop without losing the item that arrives afterwards', async () => {
    const q = await ShardedQueue.create<number>(cluster);
    const ac = new AbortController();
    const pop = q.pop({ signal: ac.signal });
    await settle();
    ac.abort();
    expect(await rejects(pop)).to.be.instanceOf(AbortedError);
    await q.push(7);
    expect(await q.pop()).to.equal(7);
    const already = new AbortController();
    already.abort();
    expect(await rejects(q.pop({ signal: already.signal }))).to.be.instanceOf(AbortedError);
  });

  it('batches concurrent pushes of one handle and keeps their order', async () => {
    const q = await ShardedQueue.create<number>(cluster);
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => q.push(i)));
    const all = await q.tryPop(10_000);
    expect(all).to.deep.equal(Array.from({ length: 5_000 }, (_, i) => i));
  });

  it('refuses undefined items and bad options, naming the option', async () => {
    const q = await ShardedQueue.create<number | undefined>(cluster);
    expect(await rejects(q.push(undefined))).to.be.instanceOf(TypeError);
    expect(await rejects(q.pushAll([1, undefined]))).to.be.instanceOf(TypeError);
    expect(await rejects(ShardedQueue.create(cluster, { capacity: -1 }))).to.be.instanceOf(RangeError).with.property('message').that.contains('options.capacity');
    expect(await rejects(ShardedQueue.create(cluster, { capacity: 1.5 }))).to.be.instanceOf(RangeError);
    expect(await rejects(ShardedQueue.create(cluster, { segmentBytes: 'lots' }))).to.be.instanceOf(RangeError).with.property('message').that.contains('options.segmentBytes');
    expect(() => ShardedQueue.open(cluster, '')).to.throw(TypeError);
    expect(await rejects(q.tryPop(0))).to.be.instanceOf(RangeError);
  });

  it('frees its proclets when destroyed', async () => {
    const before = (await cluster.stats()).proclets.length;
    const q = await ShardedQueue.create<number>(cluster);
    await q.pushAll([1, 2, 3]);
    expect((await cluster.stats()).proclets.length).to.equal(before + 3); // index, tail, spare
    await q.destroy();
    expect((await cluster.stats()).proclets.length).to.equal(before);
  });
});
