/**
 * Property: random operations from several nodes, interleaved with forced splits, merges
 * and migrations of the shards, leave the vector equal to what a plain array model
 * allows; iterators opened before and during the chaos yield each element exactly once,
 * in order. Runs in-process (views from every node) and across processes (LocalCluster,
 * with driver proclets issuing operations from each node process). Seeds are fixed so a
 * failure reproduces.
 */
import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import type { Ref } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { LocalCluster } from '@quicksand/net';
import type { BatchOptions, PrefetchOptions } from '@quicksand/shard';
import { chaos, rng } from '@quicksand/shard/internal';
import type { ChaosCounts } from '@quicksand/shard/internal';
import { ShardedVector } from '@quicksand/vector';
import { VectorDriverType } from './fixtures/driver.js';
import type { VectorDriver } from './fixtures/driver.js';

const NODES = ['n0', 'n1', 'n2'];

type Elem = string;

/** Vector operations as one node issues them. */
interface Actor {
  push(x: Elem): Promise<number>;
  pushAll(xs: Elem[], o: BatchOptions): Promise<number>;
  get(i: number): Promise<Elem>;
  set(i: number, x: Elem): Promise<void>;
  length(): Promise<number>;
  range(start: number, end: number | undefined, o: PrefetchOptions): Promise<Elem[]>;
}

function local(v: ShardedVector<Elem>): Actor {
  return {
    push: (x) => v.push(x),
    pushAll: (xs, o) => v.pushAll(xs, o),
    get: (i) => v.get(i),
    set: (i, x) => v.set(i, x),
    length: () => v.length(),
    range: async (a, b, o) => {
      const out: Elem[] = [];
      // Consumed slowly now and then, so the window fills and blocks wait for the consumer.
      for await (const x of v.range(a, b, o)) {
        out.push(x);
        if (out.length % 97 === 0) await new Promise((r) => setImmediate(r));
      }
      return out;
    },
  };
}

function remote(d: Ref<VectorDriver>, name: string): Actor {
  const run = <R>(method: string, ...args: unknown[]): Promise<R> => d.call('run', name, method, args) as Promise<R>;
  return {
    push: (x) => run('push', x),
    pushAll: (xs, o) => run('pushAll', xs, o),
    get: (i) => run('get', i),
    set: (i, x) => run('set', i, x),
    length: () => run('length'),
    range: (a, b, o) => run('range', a, b, o),
  };
}

interface World {
  cluster: Cluster;
  vector: ShardedVector<Elem>;
  actors: Actor[];
}

async function inProcess(): Promise<World> {
  const cluster = await Cluster.start({ nodes: NODES.map(() => ({ cpus: 0, memory: '64MiB' })) });
  const vector = await ShardedVector.create<Elem>(cluster, 'pv', { maxShardBytes: '2KiB' });
  const actors = await Promise.all(NODES.map(async (n) => local(await ShardedVector.open<Elem>(viewFrom(cluster, n), 'pv'))));
  return { cluster, vector, actors };
}

async function acrossProcesses(): Promise<World> {
  const cluster = await LocalCluster.start({ nodes: NODES.map(() => ({ cpus: 0, memory: '64MiB' })), logs: 'silent' });
  const vector = await ShardedVector.create<Elem>(cluster, 'pv', { maxShardBytes: '2KiB' });
  const drivers = await Promise.all(NODES.map((n) => cluster.create(VectorDriverType, [], { node: n })));
  return { cluster, vector, actors: [local(vector), ...drivers.map((d) => remote(d, 'pv'))] };
}

async function property(world: World, seed: number, waves: number): Promise<{ chaos: ChaosCounts; iterated: number; length: number }> {
  const handles = world.actors;
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let model: Elem[] = [];
  let stop = false;
  const totals: ChaosCounts = { splits: 0, merges: 0, migrations: 0 };
  let iterated = 0;

  for (let wave = 0; wave < waves; wave++) {
    const before = model.slice();
    const len = before.length;
    const singles: Array<Promise<[number, Elem]>> = [];
    const streams: Elem[][] = [];
    const sets = new Map<number, Elem>();
    const checks: Array<Promise<void>> = [];
    // An iterator over the state at the start of the wave, consumed while everything races.
    const iter = pick(handles).range(0, len, { initialBlockBytes: 64, blockBytes: 512, window: 3 });
    stop = false;
    const chaosDone = chaos(world.cluster, world.vector, NODES, rand, () => stop);
    for (let k = 0; k < 24; k++) {
      const h = pick(handles);
      const r = rand();
      if (r < 0.3) {
        const x = `s${wave}.${k}`;
        singles.push(h.push(x).then((i) => [i, x]));
      } else if (r < 0.5) {
        const xs = Array.from({ length: Math.floor(rand() * 120) }, (_, j) => `m${wave}.${k}.${j}`);
        streams.push(xs);
        checks.push(h.pushAll(xs, { batchBytes: 96 + Math.floor(rand() * 400), inFlightPerShard: 1 + Math.floor(rand() * 4) }).then((n) => void expect(n).to.equal(xs.length)));
      } else if (r < 0.7 && len > 0) {
        const i = Math.floor(rand() * len);
        if (sets.has(i)) continue;
        const x = `u${wave}.${k}`;
        sets.set(i, x);
        checks.push(h.set(i, x));
      } else if (r < 0.9 && len > 0) {
        const i = Math.floor(rand() * len);
        checks.push(
          h.get(i).then((x) => {
            const want = sets.has(i) ? [before[i], sets.get(i)] : [before[i]];
            expect(want, `get(${i})`).to.include(x);
          }),
        );
      } else {
        checks.push(h.length().then((n) => void expect(n).to.be.at.least(len)));
      }
      if (rand() < 0.3) await new Promise((r) => setImmediate(r));
    }
    const placed = await Promise.all(singles);
    await Promise.all(checks);
    const got = await iter;
    stop = true;
    const c = await chaosDone;
    totals.splits += c.splits;
    totals.merges += c.merges;
    totals.migrations += c.migrations;

    // The iterator saw every element of [0, len) exactly once, in order (old or new value where set).
    expect(got.length, 'iterated length').to.equal(len);
    const badIter = got.findIndex((x, i) => x !== before[i] && x !== sets.get(i));
    expect(badIter, `iterated element ${badIter}: ${got[badIter]}`).to.equal(-1);
    iterated += got.length;

    // The whole vector: old part with the sets applied, then the new elements.
    const all = await pick(handles).range(0, undefined, { blockBytes: 1024 });
    const pushed = placed.length + streams.reduce((a, s) => a + s.length, 0);
    expect(all.length, 'length after the wave').to.equal(len + pushed);
    expect(await pick(handles).length()).to.equal(len + pushed);
    const badOld = before.findIndex((x, i) => all[i] !== (sets.get(i) ?? x));
    expect(badOld, `element ${badOld}: ${all[badOld]}`).to.equal(-1);
    const badPush = placed.find(([i, x]) => all[i] !== x);
    expect(badPush, 'an element pushed alone is at the index push returned').to.equal(undefined);
    const at = new Map(all.map((x, i) => [x, i]));
    for (const s of streams) {
      const idx = s.map((x) => at.get(x) ?? -1);
      const bad = idx.findIndex((i, j) => i < len || (j > 0 && i <= idx[j - 1]!));
      expect(bad, `element ${s[bad]} of a pushAll is appended after its predecessor`).to.equal(-1);
    }
    expect(at.size, 'no element twice').to.equal(all.length);
    model = all;
  }
  const shards = await world.vector.shards();
  expect(shards.reduce((a, s) => a + s.count, 0), 'elements held by the shards').to.equal(model.length);
  return { chaos: totals, iterated, length: model.length };
}

describe('ShardedVector — random operations from several nodes racing splits, merges and migrations (property)', () => {
  let world: World | null = null;
  afterEach(async () => {
    await world?.cluster.close();
    world = null;
  });

  for (const seed of [11, 12, 13, 14, 15, 16]) {
    it(`matches the array model and iterates each element once, in order, in-process (seed ${seed})`, async () => {
      world = await inProcess();
      const r = await property(world, seed, 12);
      expect(r.chaos.splits, 'forced splits').to.be.greaterThan(3);
      expect(r.chaos.migrations, 'migrations').to.be.greaterThan(3);
      expect(r.iterated).to.be.greaterThan(500);
    });
  }

  for (const seed of [41, 42]) {
    it(`matches the array model and iterates each element once, in order, across processes (seed ${seed})`, async function () {
      this.timeout(120_000);
      world = await acrossProcesses();
      const r = await property(world, seed, 8);
      expect(r.chaos.splits, 'forced splits').to.be.greaterThan(3);
      expect(r.chaos.migrations, 'migrations').to.be.greaterThan(3);
      expect(r.iterated).to.be.greaterThan(200);
    });
  }
});
