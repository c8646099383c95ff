/**
 * Property: random operations on a ShardedMap and a ShardedSet from several nodes,
 * interleaved with forced splits, merges and migrations of their shards, agree with a
 * plain Map / Set model; iterators opened before and while the shards move yield every
 * entry present for the whole iteration exactly once. Runs in-process (views from every
 * node) and across processes (LocalCluster, with driver proclets issuing operations from
 * each node process). Seeds are fixed so a failure reproduces.
 */
import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import type { Ref } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { LocalCluster } from '@quicksand/net';
import { chaos, rng } from '@quicksand/shard/internal';
import type { ChaosCounts } from '@quicksand/shard/internal';
import { ShardedMap, ShardedSet } from '@quicksand/map';
import { HashDriverType } from './fixtures/driver.js';
import type { HashDriver } from './fixtures/driver.js';

type K = string | number;
type V = string | number | null | { n: number; tag: string };

/** Map operations as one node issues them. */
interface MapActor {
  get(k: K): Promise<V | undefined>;
  has(k: K): Promise<boolean>;
  set(k: K, v: V): Promise<void>;
  delete(k: K): Promise<boolean>;
  getMany(ks: K[]): Promise<Array<V | undefined>>;
  setMany(es: Array<[K, V]>, opts: object): Promise<number>;
  size(): Promise<number>;
  entries(opts: object): Promise<Array<[K, V]>>;
}

/** Set operations as one node issues them. */
interface SetActor {
  add(x: K): Promise<boolean>;
  has(x: K): Promise<boolean>;
  delete(x: K): Promise<boolean>;
  addAll(xs: K[]): Promise<number>;
  size(): Promise<number>;
  values(opts: object): Promise<K[]>;
}

function localMap(m: ShardedMap<K, V>): MapActor {
  return {
    get: (k) => m.get(k),
    has: (k) => m.has(k),
    set: (k, v) => m.set(k, v),
    delete: (k) => m.delete(k),
    getMany: (ks) => m.getMany(ks),
    setMany: (es, o) => m.setMany(es, o),
    size: () => m.size(),
    entries: async (o) => {
      const out: Array<[K, V]> = [];
      for await (const e of m.entries(o)) out.push(e);
      return out;
    },
  };
}

function localSet(s: ShardedSet<K>): SetActor {
  return {
    add: (x) => s.add(x),
    has: (x) => s.has(x),
    delete: (x) => s.delete(x),
    addAll: (xs) => s.addAll(xs),
    size: () => s.size(),
    values: async (o) => {
      const out: K[] = [];
      for await (const x of s.values(o)) out.push(x);
      return out;
    },
  };
}

function remoteMap(d: Ref<HashDriver>, name: string): MapActor {
  const run = <R>(method: string, ...args: unknown[]): Promise<R> => d.call('map', name, method, args) as Promise<R>;
  return {
    get: (k) => run('get', k),
    has: (k) => run('has', k),
    set: (k, v) => run('set', k, v),
    delete: (k) => run('delete', k),
    getMany: (ks) => run('getMany', ks),
    setMany: (es, o) => run('setMany', es, o),
    size: () => run('size'),
    entries: (o) => run('entries', o),
  };
}

function remoteSet(d: Ref<HashDriver>, name: string): SetActor {
  const run = <R>(method: string, ...args: unknown[]): Promise<R> => d.call('set', name, method, args) as Promise<R>;
  return {
    add: (x) => run('add', x),
    has: (x) => run('has', x),
    delete: (x) => run('delete', x),
    addAll: (xs) => run('addAll', xs),
    size: () => run('size'),
    values: (o) => run('values', o),
  };
}

const NODES = ['n0', 'n1', 'n2'];
const KEYS: K[] = [...Array.from({ length: 150 }, (_, i) => i), ...Array.from({ length: 150 }, (_, i) => `k${i}`), -0.5, 2 ** 40];

interface World {
  cluster: Cluster;
  map: ShardedMap<K, V>;
  set: ShardedSet<K>;
  maps: MapActor[];
  sets: SetActor[];
}

async function inProcess(): Promise<World> {
  const cluster = await Cluster.start({ nodes: NODES.map(() => ({ cpus: 0, memory: '64MiB' })) });
  const map = await ShardedMap.create<K, V>(cluster, 'pm', { maxShardBytes: '2KiB' });
  const set = await ShardedSet.create<K>(cluster, 'ps', { maxShardBytes: '2KiB' });
  const views = NODES.map((n) => viewFrom(cluster, n));
  const maps = await Promise.all(views.map(async (v) => localMap(await ShardedMap.open<K, V>(v, 'pm'))));
  const sets = await Promise.all(views.map(async (v) => localSet(await ShardedSet.open<K>(v, 'ps'))));
  return { cluster, map, set, maps, sets };
}

async function acrossProcesses(): Promise<World> {
  const cluster = await LocalCluster.start({ nodes: NODES.map(() => ({ cpus: 0, memory: '64MiB' })), logs: 'silent' });
  const map = await ShardedMap.create<K, V>(cluster, 'pm', { maxShardBytes: '2KiB' });
  const set = await ShardedSet.create<K>(cluster, 'ps', { maxShardBytes: '2KiB' });
  const drivers = await Promise.all(NODES.map((n) => cluster.create(HashDriverType, [], { node: n })));
  return { cluster, map, set, maps: [localMap(map), ...drivers.map((d) => remoteMap(d, 'pm'))], sets: [localSet(set), ...drivers.map((d) => remoteSet(d, 'ps'))] };
}

function valueOf(rand: () => number, tag: string): V {
  const r = rand();
  if (r < 0.4) return tag;
  if (r < 0.7) return Math.floor(rand() * 1e6);
  if (r < 0.8) return null;
  return { n: Math.floor(rand() * 100), tag };
}

async function mapProperty(world: World, seed: number, waves: number): Promise<{ chaos: ChaosCounts; iterated: number }> {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const model = new Map<K, V>();
  const totals: ChaosCounts = { splits: 0, merges: 0, migrations: 0 };
  let iterated = 0;
  for (let wave = 0; wave < waves; wave++) {
    const before = new Map(model);
    // Each operation of a wave gets keys of its own, so the wave's outcome does not depend on the interleaving.
    const free = [...KEYS].sort(() => rand() - 0.5);
    const take = (n: number): K[] => free.splice(0, n);
    const touched = new Set<K>();
    const checks: Array<Promise<void>> = [];
    let stop = false;
    const chaosDone = chaos(world.cluster, world.map, NODES, rand, () => stop);
    const iter = pick(world.maps).entries({ initialBlockBytes: 64, blockBytes: 512, window: 3 });
    for (let k = 0; k < 30 && free.length > 12; k++) {
      const a = pick(world.maps);
      const r = rand();
      if (r < 0.3) {
        const [key] = take(1);
        const v = valueOf(rand, `w${wave}.${k}`);
        touched.add(key!);
        model.set(key!, v);
        checks.push(a.set(key!, v));
      } else if (r < 0.45) {
        const [key] = take(1);
        touched.add(key!);
        model.delete(key!);
        checks.push(a.delete(key!).then((had) => void expect(had, `delete(${key}) result`).to.equal(before.has(key!))));
      } else if (r < 0.6) {
        const [key] = take(1);
        checks.push(a.get(key!).then((v) => void expect(v, `get(${key})`).to.deep.equal(before.get(key!))));
        checks.push(a.has(key!).then((h) => void expect(h, `has(${key})`).to.equal(before.has(key!))));
      } else if (r < 0.8) {
        const ks = take(1 + Math.floor(rand() * 10));
        // Repeated keys: the last value must win.
        const es: Array<[K, V]> = ks.flatMap((key, j) => [[key, valueOf(rand, `a${wave}.${k}.${j}`)] as [K, V], [key, valueOf(rand, `b${wave}.${k}.${j}`)] as [K, V]]);
        for (const [key, v] of es) {
          model.set(key, v);
          touched.add(key);
        }
        checks.push(a.setMany(es, { batchBytes: 64 + Math.floor(rand() * 300), inFlightPerShard: 1 + Math.floor(rand() * 3) }).then((n) => void expect(n).to.equal(es.length)));
      } else {
        const ks = take(1 + Math.floor(rand() * 12));
        checks.push(a.getMany(ks).then((vs) => void expect(vs, 'getMany').to.deep.equal(ks.map((key) => before.get(key)))));
      }
      if (rand() < 0.3) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(checks);
    const seen = await iter;
    stop = true;
    const c = await chaosDone;
    totals.splits += c.splits;
    totals.merges += c.merges;
    totals.migrations += c.migrations;
    // Entries present for the whole iteration appear exactly once with their value; others at most once.
    const counts = new Map<K, number>();
    for (const [key, v] of seen) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (!touched.has(key)) expect(v, `iterated value of ${key}`).to.deep.equal(before.get(key));
    }
    const twice = [...counts].find(([, n]) => n > 1);
    expect(twice, 'an entry iterated twice').to.equal(undefined);
    const missing = [...before.keys()].find((key) => !touched.has(key) && !counts.has(key));
    expect(missing, 'an entry present throughout but not iterated').to.equal(undefined);
    const stray = [...counts.keys()].find((key) => !before.has(key) && !touched.has(key));
    expect(stray, 'an iterated key that never existed').to.equal(undefined);
    iterated += seen.length;
    // After the wave, the map equals the model.
    expect(await pick(world.maps).size(), 'size').to.equal(model.size);
    const all = await pick(world.maps).entries({});
    expect(new Map(all), 'contents').to.deep.equal(model);
  }
  return { chaos: totals, iterated };
}

async function setProperty(world: World, seed: number, waves: number): Promise<number> {
  const rand = rng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const model = new Set<K>();
  let stop = false;
  let moves = 0;
  for (let wave = 0; wave < waves; wave++) {
    const before = new Set(model);
    const free = [...KEYS].sort(() => rand() - 0.5);
    const checks: Array<Promise<void>> = [];
    stop = false;
    const chaosDone = chaos(world.cluster, world.set, NODES, rand, () => stop);
    const iter = pick(world.sets).values({ initialBlockBytes: 32, blockBytes: 256, window: 2 });
    const touched = new Set<K>();
    for (let k = 0; k < 25 && free.length > 10; k++) {
      const a = pick(world.sets);
      const r = rand();
      if (r < 0.35) {
        const x = free.pop()!;
        touched.add(x);
        model.add(x);
        checks.push(a.add(x).then((added) => void expect(added, `add(${x})`).to.equal(!before.has(x))));
      } else if (r < 0.55) {
        const x = free.pop()!;
        touched.add(x);
        model.delete(x);
        checks.push(a.delete(x).then((had) => void expect(had, `delete(${x})`).to.equal(before.has(x))));
      } else if (r < 0.75) {
        const xs = free.splice(0, 1 + Math.floor(rand() * 8));
        for (const x of xs) {
          touched.add(x);
          model.add(x);
        }
        checks.push(a.addAll([...xs, ...xs]).then((n) => void expect(n).to.equal(xs.length * 2)));
      } else {
        const x = free.pop()!;
        checks.push(a.has(x).then((h) => void expect(h, `has(${x})`).to.equal(before.has(x))));
      }
    }
    await Promise.all(checks);
    const seen = await iter;
    stop = true;
    const c = await chaosDone;
    moves += c.splits + c.merges + c.migrations;
    expect(new Set(seen).size, 'a member iterated twice').to.equal(seen.length);
    const missing = [...before].find((x) => !touched.has(x) && !seen.includes(x));
    expect(missing, 'a member present throughout but not iterated').to.equal(undefined);
    expect(await pick(world.sets).size()).to.equal(model.size);
    expect(new Set(await pick(world.sets).values({}))).to.deep.equal(model);
  }
  return moves;
}

describe('ShardedMap and ShardedSet — random operations from several nodes racing splits, merges and migrations (property)', () => {
  let world: World | null = null;
  afterEach(async () => {
    await world?.cluster.close();
    world = null;
  });

  for (const seed of [21, 22, 23, 24, 25, 26]) {
    it(`agree with a Map and a Set, and iterate each entry once, in-process (seed ${seed})`, async () => {
      world = await inProcess();
      const r = await mapProperty(world, seed, 10);
      expect(r.chaos.splits, 'forced splits').to.be.greaterThan(3);
      expect(r.chaos.migrations, 'migrations').to.be.greaterThan(3);
      expect(r.iterated).to.be.greaterThan(200);
      expect(await setProperty(world, seed, 6)).to.be.greaterThan(5);
    });
  }

  for (const seed of [31, 32]) {
    it(`agree with a Map and a Set, and iterate each entry once, across processes (seed ${seed})`, async function () {
      this.timeout(120_000);
      world = await acrossProcesses();
      const r = await mapProperty(world, seed, 8);
      expect(r.chaos.splits, 'forced splits').to.be.greaterThan(3);
      expect(r.chaos.migrations, 'migrations').to.be.greaterThan(3);
      expect(await setProperty(world, seed, 4)).to.be.greaterThan(3);
    });
  }
});
