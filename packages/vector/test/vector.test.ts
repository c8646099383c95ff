import { expect } from 'chai';
import { Cluster, InvalidArgumentError } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import type { SplitEvent } from '@quicksand/shard';
import { ShardedVector } from '@quicksand/vector';
import { eventually, rejects } from '@quicksand/shard/internal';

describe('ShardedVector — basic operations', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('pushes, reads, replaces and counts elements like an array', async () => {
    const v = await ShardedVector.create<string>(cluster, 'letters');
    expect(await v.length()).to.equal(0);
    expect(await v.push('a')).to.equal(0);
    expect(await v.push('b')).to.equal(1);
    expect(await v.pushAll(['c', 'd', 'e'])).to.equal(3);
    await v.set(1, 'B');
    expect(await v.length()).to.equal(5);
    expect(await Promise.all([0, 1, 2, 3, 4].map((i) => v.get(i)))).to.deep.equal(['a', 'B', 'c', 'd', 'e']);
    expect(await v.range(1, 4).toArray()).to.deep.equal(['B', 'c', 'd']);
    expect(await v.values().toArray()).to.deep.equal(['a', 'B', 'c', 'd', 'e']);
    const seen: string[] = [];
    for await (const x of v) seen.push(x);
    expect(seen).to.deep.equal(['a', 'B', 'c', 'd', 'e']);
  });

  it('tells which shard and node hold each part of a range', async () => {
    const v = await ShardedVector.create<number>(cluster, 'placed', { maxShardBytes: '2KiB' });
    await v.pushAll(Array.from({ length: 2000 }, (_, i) => i));
    const parts = await v.range(100, 1900).placement();
    expect(parts.length).to.be.greaterThan(3);
    expect(parts[0]!.start).to.equal(100);
    expect(parts[parts.length - 1]!.end).to.equal(1900);
    for (let i = 1; i < parts.length; i++) expect(parts[i]!.start).to.equal(parts[i - 1]!.end);
    for (const p of parts) {
      expect(['n0', 'n1']).to.include(p.node);
      expect(await cluster.locate(p.shard)).to.equal(p.node);
    }
  });

  it('accepts async iterables in pushAll and keeps their order', async () => {
    const v = await ShardedVector.create<number>(cluster, 'gen', { maxShardBytes: '2KiB' });
    async function* gen(): AsyncGenerator<number> {
      for (let i = 0; i < 3000; i++) yield i;
    }
    expect(await v.pushAll(gen(), { batchBytes: 512, inFlightPerShard: 3 })).to.equal(3000);
    expect(await v.values().toArray()).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i));
    expect((await v.shards()).length).to.be.greaterThan(3);
  });

  it('refuses indices out of bounds, bad indices and undefined elements with clear errors', async () => {
    const v = await ShardedVector.create<number | null>(cluster, 'strict');
    await v.pushAll([1, 2, null]);
    const e1 = await rejects(v.get(3));
    expect(e1).to.be.instanceOf(RangeError);
    expect(e1.message).to.contain('index 3 is out of bounds').and.contain('length is 3');
    expect(await rejects(v.set(7, 1))).to.be.instanceOf(RangeError);
    expect(() => v.get(-1)).to.throw(RangeError, 'index must be in');
    expect(() => v.get(1.5)).to.throw(TypeError, 'index must be an integer');
    expect(() => v.push(undefined as never)).to.throw(TypeError, 'use null');
    expect(() => v.range(4, 2)).to.throw(RangeError, 'end (2) must not be below start (4)');
    expect(await v.get(2)).to.equal(null);
  });

  it('validates sharding options up front, naming the option', async () => {
    const e = await rejects(ShardedVector.create(cluster, 'bad', { maxShardBytes: 10 }));
    expect(e).to.be.instanceOf(RangeError);
    expect(e.message).to.contain('options.maxShardBytes must be at least 1024');
    const e2 = await rejects(ShardedVector.create(cluster, 'bad', { maxShardBytes: '64KiB', lowWaterBytes: '40KiB' }));
    expect(e2.message).to.contain('options.lowWaterBytes must be below half');
    const e3 = await rejects(ShardedVector.create(cluster, 'bad', { targetMigrationMs: -1 }));
    expect(e3).to.be.instanceOf(RangeError);
    expect(e3.message).to.contain('options.targetMigrationMs');
    const v = await ShardedVector.create(cluster, 'fine', { targetMigrationMs: 2 });
    expect(v.maxShardBytes).to.equal(1024 * 1024);
    expect((await ShardedVector.create(cluster, 'default')).maxShardBytes).to.equal(512 * 1024);
  });

  it('opens a vector by name from another node, and refuses taken and unknown names', async () => {
    const v = await ShardedVector.create<number>(cluster, 'shared');
    await v.pushAll([1, 2, 3]);
    const there = await ShardedVector.open<number>(viewFrom(cluster, 'n1'), 'shared');
    expect(await there.push(4)).to.equal(3);
    expect(await v.values().toArray()).to.deep.equal([1, 2, 3, 4]);
    const taken = await rejects(ShardedVector.create(cluster, 'shared'));
    expect(taken).to.be.instanceOf(InvalidArgumentError);
    expect(taken.message).to.contain("'shared' already exists");
    expect((await rejects(ShardedVector.open(cluster, 'nothing'))).message).to.contain("no structure named 'nothing'");
  });

  it('clears to one empty shard and keeps working', async () => {
    const v = await ShardedVector.create<number>(cluster, 'c', { maxShardBytes: '2KiB' });
    await v.pushAll(Array.from({ length: 2000 }, (_, i) => i));
    expect((await v.shards()).length).to.be.greaterThan(2);
    await v.clear();
    expect(await v.length()).to.equal(0);
    expect((await v.shards()).length).to.equal(1);
    expect(await v.push(9)).to.equal(0);
    expect(await v.values().toArray()).to.deep.equal([9]);
  });

  it('destroys its shards and frees its name; later calls fail with ClosedError', async () => {
    const v = await ShardedVector.create<number>(cluster, 'gone', { maxShardBytes: '2KiB' });
    await v.pushAll(Array.from({ length: 1000 }, (_, i) => i));
    await v.destroy();
    await eventually(async () => (await cluster.stats()).proclets.length === 0, 'every proclet of the vector is destroyed');
    const e = await rejects(v.get(0));
    expect(e.name).to.equal('ClosedError');
    const again = await ShardedVector.create<number>(cluster, 'gone');
    expect(await again.length()).to.equal(0);
  });

  it('emits split events naming the shards, the key and the nodes', async () => {
    const events: SplitEvent[] = [];
    cluster.on('split', (e) => events.push(e));
    const v = await ShardedVector.create<number>(cluster, 'ev', { maxShardBytes: '4KiB' });
    await v.pushAll(Array.from({ length: 3000 }, (_, i) => i));
    await eventually(() => events.length > 0, 'a split event');
    const e = events[0]!;
    expect(e.structure).to.equal('ev');
    expect(e.kind).to.equal('vector');
    expect(e.forced).to.equal(false);
    expect(e.at).to.be.greaterThan(0);
    expect(['n0', 'n1']).to.include(e.to);
    const shards = await v.shards();
    expect(shards.map((s) => s.id)).to.include(e.newShard);
  });
});
