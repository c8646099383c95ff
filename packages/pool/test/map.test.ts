import { expect } from 'chai';
import type { Cluster } from '@quicksand/core';
import type { JobProgress } from '@quicksand/pool';
import { ShardedQueue } from '@quicksand/queue';
import { rng, usePool } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

/** The same elements through every kind of source a job accepts. */
const sources: Record<string, (xs: number[], cluster: Cluster) => Promise<Iterable<number> | AsyncIterable<number> | ArrayLike<number> | ShardedQueue<number>>> = {
  array: async (xs) => xs,
  'typed array': async (xs) => Float64Array.from(xs),
  'sync iterable (Set)': async (xs) => new Set(xs), // the test data has no duplicates
  generator: async (xs) =>
    (function* () {
      yield* xs;
    })(),
  'async generator': async (xs) =>
    (async function* () {
      for (let i = 0; i < xs.length; i++) {
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 1));
        yield xs[i]!;
      }
    })(),
  ShardedQueue: async (xs, cluster) => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 1_000, segmentBytes: '8KiB' });
    void (async () => {
      for (let i = 0; i < xs.length; i += 250) await q.pushAll(xs.slice(i, i + 250));
      await q.close();
    })();
    return q;
  },
};

/** Distinct random integers (so that a Set keeps them all). */
function data(seed: number, n: number): number[] {
  const random = rng(seed);
  const seen = new Set<number>();
  while (seen.size < n) seen.add(Math.floor(random() * 1e6) - 5e5);
  return [...seen];
}

describe('ThreadPool jobs — map, filter, reduce and forEach against Array methods', () => {
  const env = usePool();

  let seed = 100;
  for (const [kind, make] of Object.entries(sources)) {
    it(`matches Array#map, #filter and #reduce on random data from a ${kind}`, async () => {
      const xs = data(++seed, 3_000 + (seed % 7) * 311);
      const square = env.pool.task<number, number>(tasks, 'square');
      expect(await env.pool.map(await make(xs, env.cluster), square)).to.deep.equal(xs.map((x) => x * x));
      expect(await env.pool.filter(await make(xs, env.cluster), env.pool.task(tasks, 'multipleOf3'))).to.deep.equal(xs.filter((x) => x % 3 === 0));
      const sum = await env.pool.reduce(await make(xs, env.cluster), env.pool.task<number, number>(tasks, 'add'), 0, (a, b) => a + b);
      expect(sum).to.equal(xs.reduce((a, b) => a + b, 0));
      const count = await env.pool.reduce(await make(xs, env.cluster), (acc: number, x: number, i: number) => acc + (x > 0 ? 1 : 0) + i * 0, 0, (a, b) => a + b);
      expect(count).to.equal(xs.filter((x) => x > 0).length);
    });
  }

  it('passes each element its source position, and awaits async tasks', async () => {
    const xs = data(7, 2_000);
    expect(await env.pool.map(xs, (x: number, i: number) => x * 0 + i)).to.deep.equal(xs.map((_, i) => i));
    expect(await env.pool.map(xs, env.pool.task<number, number>(tasks, 'doubleLater'))).to.deep.equal(xs.map((x) => 2 * x));
  });

  it('maps objects and strings as well as numbers', async () => {
    const random = rng(3);
    const objs = Array.from({ length: 1_500 }, (_, i) => ({ id: i, name: `n${Math.floor(random() * 1e6).toString(36)}` }));
    const out = await env.pool.map(objs, env.pool.task<{ id: number; name: string }, string>(tasks, 'describe'));
    expect(out).to.deep.equal(objs.map((o, i) => `${i}:${o.id}:${o.name.toUpperCase()}`));
  });

  it('runs forEach on every element once', async () => {
    const xs = data(9, 1_000);
    let done = 0;
    await env.pool.forEach(xs, env.pool.task(tasks, 'square'), { onProgress: (p) => (done = p.done) });
    expect(done).to.equal(xs.length);
  });

  it('handles empty sources: [] for map and filter, init for reduce', async () => {
    expect(await env.pool.map([], (x: number) => x)).to.deep.equal([]);
    expect(await env.pool.filter(new Set<number>(), (x: number) => x > 0)).to.deep.equal([]);
    expect(await env.pool.reduce([] as number[], (a: number, x: number) => a + x, 42, (a, b) => a + b)).to.equal(42);
  });

  for (const [kind, make] of Object.entries(sources)) {
    it(`streams map and filter results from a ${kind} into a queue in source order`, async () => {
      const xs = data(++seed, 2_500);
      const out = await ShardedQueue.create<number>(env.cluster, { capacity: 200 });
      const job = env.pool.map(await make(xs, env.cluster), env.pool.task<number, number>(tasks, 'square'), { output: out });
      const got: number[] = [];
      for await (const y of out) got.push(y);
      expect(await job).to.equal(out);
      expect(got).to.deep.equal(xs.map((x) => x * x));
      const kept = await ShardedQueue.create<number>(env.cluster);
      await env.pool.filter(await make(xs, env.cluster), env.pool.task(tasks, 'multipleOf3'), { output: kept });
      expect(await kept.tryPop(10_000)).to.deep.equal(xs.filter((x) => x % 3 === 0));
    });
  }

  it('reports progress up to done === total, with the number of running compute proclets', async () => {
    const xs = data(5, 4_000);
    const seen: JobProgress[] = [];
    await env.pool.map(xs, env.pool.task(tasks, 'square'), { onProgress: (p) => seen.push(p) });
    expect(seen.length).to.be.greaterThan(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).to.be.at.least(seen[i - 1]!.done);
    expect(seen.at(-1)).to.deep.include({ done: 4_000, total: 4_000 });
    expect(seen[0]!.running).to.be.within(1, 2);
  });
});
