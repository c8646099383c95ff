import { expect } from 'chai';
import { Cluster, MemoryBudgetError } from '@quicksand/core';
import type { SplitEvent } from '@quicksand/shard';
import { ShardedVector } from '@quicksand/vector';
import { eventually, rejects } from '@quicksand/shard/internal';

describe('ShardedVector — growth across nodes', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('fills past several shard bounds into several shards on more than one node, in order', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '1MiB' }, { cpus: 0, memory: '1MiB' }, { cpus: 0, memory: '1MiB' }] });
    const splits: SplitEvent[] = [];
    cluster.on('split', (e) => splits.push(e));
    const v = await ShardedVector.create<string>(cluster, 'big', { maxShardBytes: '64KiB' });
    const n = 24_000; // about 1.3 MiB of strings: more than any one node holds
    await v.pushAll(Array.from({ length: n }, (_, i) => `element-${i}-${'x'.repeat(i % 40)}`));
    const shards = await v.shards();
    expect(shards.length).to.be.greaterThan(10);
    expect(new Set(shards.map((s) => s.node)).size).to.be.greaterThan(1);
    for (const s of shards) expect(s.bytes, `shard ${s.id}`).to.be.at.most(2 * 64 * 1024);
    await eventually(() => splits.length >= shards.length - 1, 'a split event per new shard');
    const all = await v.values().toArray();
    expect(all.length).to.equal(n);
    const bad = all.findIndex((x, i) => x !== `element-${i}-${'x'.repeat(i % 40)}`);
    expect(bad).to.equal(-1);
    const stats = await cluster.stats();
    for (const node of stats.nodes) expect(node.memoryUsed, node.id).to.be.at.most(node.memory);
  });

  it('fails with MemoryBudgetError saying the cluster is out of memory, keeping what it holds', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '512KiB' }, { cpus: 0, memory: '512KiB' }] });
    const v = await ShardedVector.create<string>(cluster, 'too-big', { maxShardBytes: '64KiB' });
    const item = (i: number): string => `${i}:${'y'.repeat(200)}`;
    const e = await rejects(v.pushAll(Array.from({ length: 20_000 }, (_, i) => item(i)))); // about 4.5 MiB
    expect(e).to.be.instanceOf(MemoryBudgetError);
    expect(e.message).to.contain("vector 'too-big'").and.contain('out of memory').and.contain('add nodes');
    const len = await v.length();
    expect(len).to.be.greaterThan(1000).and.lessThan(20_000);
    const all = await v.values().toArray();
    expect(all.findIndex((x, i) => x !== item(i))).to.equal(-1);
    // Single pushes use the room left (a batch may not fit where one element does; the
    // scheduler may also have moved shards meanwhile), then fail the same way.
    let pushed = 0;
    let last: unknown = null;
    for (; pushed < 5000; pushed++) {
      try {
        await v.push(item(len + pushed));
      } catch (err) {
        last = err;
        break;
      }
    }
    expect(last).to.be.instanceOf(MemoryBudgetError);
    expect(await v.length()).to.equal(len + pushed);
    const stats = await cluster.stats();
    for (const node of stats.nodes) expect(node.memoryUsed, node.id).to.be.at.most(node.memory);
  });
});
