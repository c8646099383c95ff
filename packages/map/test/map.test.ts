import { expect } from 'chai';
import { Cluster, InvalidArgumentError } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import type { MergeEvent, SplitEvent } from '@quicksand/shard';
import { ShardedMap, ShardedSet } from '@quicksand/map';
import { eventually, rejects } from '@quicksand/shard/internal';

describe('ShardedMap — basic operations', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('gets, sets, deletes and counts entries like a Map', async () => {
    const m = await ShardedMap.create<string | number, unknown>(cluster, 'm');
    expect(await m.get('a')).to.equal(undefined);
    await m.set('a', 1);
    await m.set(1, { deep: [1, 'x'] });
    await m.set('1', null);
    expect(await m.get('a')).to.equal(1);
    expect(await m.get(1)).to.deep.equal({ deep: [1, 'x'] });
    expect(await m.get('1')).to.equal(null);
    expect(await m.has('1')).to.equal(true);
    expect(await m.has(2)).to.equal(false);
    expect(await m.size()).to.equal(3);
    expect(await m.delete('a')).to.equal(true);
    expect(await m.delete('a')).to.equal(false);
    expect(await m.size()).to.equal(2);
    await m.set(-0, 'zero');
    expect(await m.get(0)).to.equal('zero');
    await m.set(NaN, 'nan');
    expect(await m.get(NaN)).to.equal('nan');
  });

  it('reads and writes many keys in batches, last value winning for repeated keys', async () => {
    const m = await ShardedMap.create<number, string>(cluster, 'bulk', { maxShardBytes: '4KiB' });
    const entries: Array<[number, string]> = Array.from({ length: 3000 }, (_, i) => [i % 2000, `v${i}`]);
    expect(await m.setMany(entries, { batchBytes: 600, inFlightPerShard: 2 })).to.equal(3000);
    expect(await m.size()).to.equal(2000);
    const got = await m.getMany([0, 999, 1000, 1999, 5000]);
    expect(got).to.deep.equal(['v2000', 'v2999', 'v1000', 'v1999', undefined]);
    expect((await m.shards()).length).to.be.greaterThan(4);
  });

  it('pre-splits an empty map for a large setMany, so the load moves no data between shards', async () => {
    const splits: SplitEvent[] = [];
    cluster.on('split', (e) => splits.push(e));
    const m = await ShardedMap.create<number, string>(cluster, 'pre', { maxShardBytes: '64KiB' });
    await m.setMany(Array.from({ length: 20_000 }, (_, i): [number, string] => [i, `value ${i}`])); // about 1.3 MiB
    const shards = await m.shards();
    expect(shards.length).to.be.at.least(16);
    expect(new Set(shards.map((s) => s.node)).size, 'shards spread over the nodes').to.equal(2);
    expect(splits.filter((e) => e.count > 0), 'splits that moved entries').to.have.length.at.most(2);
    for (const s of shards) expect(s.bytes, s.id).to.be.at.most(64 * 1024);
    expect(await m.size()).to.equal(20_000);
  });

  it('accepts async iterables in setMany', async () => {
    const m = await ShardedMap.create<string, number>(cluster, 'gen');
    async function* gen(): AsyncGenerator<[string, number]> {
      for (let i = 0; i < 500; i++) yield [`k${i}`, i];
    }
    expect(await m.setMany(gen())).to.equal(500);
    expect(await m.get('k499')).to.equal(499);
  });

  it('iterates entries, keys and values, each once', async () => {
    const m = await ShardedMap.create<number, number>(cluster, 'it', { maxShardBytes: '2KiB' });
    await m.setMany(Array.from({ length: 1000 }, (_, i): [number, number] => [i, i * 2]));
    const seen = new Map<number, number>();
    for await (const [k, v] of m.entries({ initialBlockBytes: 100, blockBytes: 400, window: 2 })) {
      expect(seen.has(k), `key ${k} twice`).to.equal(false);
      seen.set(k, v);
    }
    expect(seen.size).to.equal(1000);
    for (const [k, v] of seen) expect(v).to.equal(k * 2);
    const keys: number[] = [];
    for await (const k of m.keys()) keys.push(k);
    expect(keys.sort((a, b) => a - b)).to.deep.equal([...seen.keys()].sort((a, b) => a - b));
    let sum = 0;
    for await (const v of m.values()) sum += v;
    expect(sum).to.equal(999 * 1000);
  });

  it('refuses bad keys and undefined values', async () => {
    const m = await ShardedMap.create<string, number>(cluster, 'strict');
    expect(() => m.get({} as never)).to.throw(TypeError, 'keys must be strings or numbers');
    expect(() => m.set('x', undefined as never)).to.throw(TypeError, 'delete the key instead');
    expect(await rejects(m.setMany([['x', 1], [null as never, 2]]))).to.be.instanceOf(TypeError);
  });

  it('opens by name from another node, and refuses taken names and other kinds', async () => {
    const m = await ShardedMap.create<string, number>(cluster, 'shared');
    await m.set('x', 1);
    const there = await ShardedMap.open<string, number>(viewFrom(cluster, 'n1'), 'shared');
    expect(await there.get('x')).to.equal(1);
    await there.set('y', 2);
    expect(await m.get('y')).to.equal(2);
    expect(await rejects(ShardedMap.create(cluster, 'shared'))).to.be.instanceOf(InvalidArgumentError);
    await ShardedSet.create(cluster, 'a-set');
    expect((await rejects(ShardedMap.open(cluster, 'a-set'))).message).to.contain("'a-set' is a set, not a map");
  });

  it('serves a handle whose cached routes are far behind, refreshing them on the first refusal', async () => {
    const m = await ShardedMap.create<number, number>(cluster, 'lag', { autoSplit: false, autoMerge: false });
    await m.setMany(Array.from({ length: 3000 }, (_, i): [number, number] => [i, i]));
    const behind = await ShardedMap.open<number, number>(viewFrom(cluster, 'n1'), 'lag');
    expect(await behind.get(7)).to.equal(7);
    const before = behind.client.version;
    // Many forced splits from the other handle: more changes than the index's log keeps.
    for (let i = 0; i < 70; i++) {
      const shards = await m.shards();
      const big = shards.reduce((a, b) => (b.count > a.count ? b : a));
      expect(await m.splitShard(big.id)).to.not.equal(null);
    }
    expect((await m.shards()).length).to.equal(71);
    expect(behind.client.version).to.equal(before);
    expect(await behind.getMany([0, 1500, 2999])).to.deep.equal([0, 1500, 2999]);
    await behind.set(5, 55);
    expect(await m.get(5)).to.equal(55);
    expect(behind.client.version).to.equal(m.client.version);
    expect(await behind.size()).to.equal(3000);
  });

  it('merges shards back when it shrinks, emitting merge events', async () => {
    const merges: MergeEvent[] = [];
    cluster.on('merge', (e) => merges.push(e));
    const m = await ShardedMap.create<number, string>(cluster, 'shrink', { maxShardBytes: '4KiB' });
    await m.setMany(Array.from({ length: 2000 }, (_, i): [number, string] => [i, `value-${i}`]));
    const many = (await m.shards()).length;
    expect(many).to.be.greaterThan(10);
    for (let i = 0; i < 1990; i++) await m.delete(i);
    await eventually(async () => (await m.shards()).length <= 2, 'the shards merge back');
    expect(merges.length).to.be.at.least(many - 2);
    expect(merges[0]!.structure).to.equal('shrink');
    expect(await m.size()).to.equal(10);
    expect(await m.getMany([1995, 5])).to.deep.equal(['value-1995', undefined]);
  });

  it('clears and destroys', async () => {
    const m = await ShardedMap.create<number, number>(cluster, 'c', { maxShardBytes: '2KiB' });
    await m.setMany(Array.from({ length: 500 }, (_, i): [number, number] => [i, i]));
    await m.clear();
    expect(await m.size()).to.equal(0);
    expect(await m.get(3)).to.equal(undefined);
    await m.set(3, 3);
    expect(await m.get(3)).to.equal(3);
    await m.destroy();
    expect((await rejects(m.get(3))).name).to.equal('ClosedError');
    expect((await ShardedMap.create(cluster, 'c')).name).to.equal('c');
  });
});

describe('ShardedSet — basic operations', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('adds, checks, deletes, counts and iterates members like a Set', async () => {
    const s = await ShardedSet.create<string | number>(cluster, 's', { maxShardBytes: '2KiB' });
    expect(await s.add('a')).to.equal(true);
    expect(await s.add('a')).to.equal(false);
    expect(await s.add(1)).to.equal(true);
    expect(await s.has('1')).to.equal(false);
    expect(await s.addAll(Array.from({ length: 600 }, (_, i) => `m${i % 400}`))).to.equal(600);
    expect(await s.size()).to.equal(402);
    expect(await s.delete('m0')).to.equal(true);
    expect(await s.delete('m0')).to.equal(false);
    const seen = new Set<string | number>();
    for await (const x of s) {
      expect(seen.has(x), `${x} twice`).to.equal(false);
      seen.add(x);
    }
    expect(seen.size).to.equal(401);
    expect(seen.has('m0')).to.equal(false);
    expect(seen.has(1)).to.equal(true);
    expect((await s.shards()).length).to.be.greaterThan(2);
  });
});
