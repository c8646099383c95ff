import { expect } from 'chai';
import { Cluster, MemoryBudgetError } from '@quicksand/core';
import type { MergeEvent, SplitEvent } from '@quicksand/shard';
import { eventually, rejects } from '@quicksand/shard/internal';
import { ShardedMap } from '@quicksand/map';

describe('ShardedMap — growth across nodes and shrinking back', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('splits onto more than one node as it fills, and merges back as it shrinks', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '1MiB' }, { cpus: 0, memory: '1MiB' }, { cpus: 0, memory: '1MiB' }] });
    const splits: SplitEvent[] = [];
    const merges: MergeEvent[] = [];
    cluster.on('split', (e) => splits.push(e));
    cluster.on('merge', (e) => merges.push(e));
    const m = await ShardedMap.create<string, string>(cluster, 'grow', { maxShardBytes: '64KiB' });
    const n = 14_000; // about 1.4 MiB: more than one node holds
    const value = (i: number): string => `value-${i}-${'v'.repeat(i % 30)}`;
    await m.setMany(Array.from({ length: n }, (_, i): [string, string] => [`key-${i}`, value(i)]));
    const full = await m.shards();
    expect(full.length).to.be.greaterThan(16);
    expect(new Set(full.map((s) => s.node)).size).to.be.greaterThan(1);
    // Splits stay even: by hash range, whatever the keys.
    const counts = full.map((s) => s.count).sort((a, b) => a - b);
    expect(counts[0]!, `smallest shard of ${counts.join(',')}`).to.be.greaterThan(counts[counts.length - 1]! / 4);
    expect(await m.size()).to.equal(n);
    expect(await m.getMany(['key-0', `key-${n - 1}`])).to.deep.equal([value(0), value(n - 1)]);
    await eventually(() => splits.length >= full.length - 1, 'a split event per new shard');

    for (let i = 0; i < n - 50; i += 1) await m.delete(`key-${i}`);
    await eventually(async () => (await m.shards()).length <= 2, 'the shards merge back');
    expect(merges.length).to.be.greaterThan(full.length / 2);
    expect(await m.size()).to.equal(50);
    const rest = new Map<string, string>();
    for await (const [k, v] of m) rest.set(k, v);
    expect(rest.size).to.equal(50);
    expect(rest.get(`key-${n - 1}`)).to.equal(value(n - 1));
    const stats = await cluster.stats();
    for (const node of stats.nodes) expect(node.memoryUsed, node.id).to.be.at.most(node.memory);
  });

  it('fails with MemoryBudgetError when asked to hold more than the cluster has, keeping what it holds', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '512KiB' }, { cpus: 0, memory: '512KiB' }] });
    const m = await ShardedMap.create<number, string>(cluster, 'too-big', { maxShardBytes: '64KiB' });
    const e = await rejects(m.setMany(Array.from({ length: 20_000 }, (_, i): [number, string] => [i, 'z'.repeat(200)])));
    expect(e).to.be.instanceOf(MemoryBudgetError);
    expect(e.message).to.contain("map 'too-big'").and.contain('out of memory').and.contain('add nodes');
    const size = await m.size();
    expect(size).to.be.greaterThan(1000).and.lessThan(20_000);
    let seen = 0;
    for await (const [k, v] of m) {
      expect(v, `value of ${k}`).to.equal('z'.repeat(200));
      seen++;
    }
    expect(seen).to.equal(size);
    const stats = await cluster.stats();
    for (const node of stats.nodes) expect(node.memoryUsed, node.id).to.be.at.most(node.memory);
  });
});
