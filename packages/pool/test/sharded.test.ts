import { expect } from 'chai';
import { TaskError } from '@quicksand/core';
import { ShardedMap } from '@quicksand/map';
import { ShardedQueue } from '@quicksand/queue';
import { ShardedVector } from '@quicksand/vector';
import { rejects, rng, usePool } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

/** A vector of `xs` whose shards are spread over n0 and n1 (small shards, every other one moved). */
async function spreadVector(env: ReturnType<typeof usePool>, name: string, xs: number[]): Promise<ShardedVector<number>> {
  const v = await ShardedVector.create<number>(env.cluster, name, { maxShardBytes: '16KiB', node: 'n0' });
  await v.pushAll(xs);
  const shards = await v.shards();
  await Promise.all(shards.filter((_, i) => i % 2 === 1).map((s) => env.cluster.migrate(s.id, 'n1')));
  return v;
}

describe('ThreadPool jobs — sharded vectors and maps as sources and outputs', () => {
  const env = usePool();

  const data = (seed: number, n: number): number[] => {
    const random = rng(seed);
    return Array.from({ length: n }, () => Math.floor(random() * 2e6) - 1e6);
  };

  it('maps a ShardedVector into a new ShardedVector by default, in order, reading each range next to its shard', async () => {
    const xs = data(1, 20_000);
    const v = await spreadVector(env, 'in-1', xs);
    expect(new Set((await v.shards()).map((s) => s.node))).to.deep.equal(new Set(['n0', 'n1']));
    const out = await env.pool.map(v, env.pool.task<number, number>(tasks, 'square'));
    expect(out).to.be.instanceOf(ShardedVector);
    expect(await out.range().toArray()).to.deep.equal(xs.map((x) => x * x));
    const { localChunks, remoteChunks } = env.pool.stats();
    expect(localChunks).to.be.greaterThan(remoteChunks);
  });

  it('matches Array#map, #filter and #reduce on a ShardedVector, with array and vector outputs', async () => {
    const xs = data(2, 15_000);
    const v = await spreadVector(env, 'in-2', xs);
    expect(await env.pool.map(v, env.pool.task<number, number>(tasks, 'square'), { output: 'array' })).to.deep.equal(xs.map((x) => x * x));
    const kept = await env.pool.filter(v, env.pool.task(tasks, 'multipleOf3'), { outputName: 'kept' });
    expect(kept.name).to.equal('kept');
    expect(await kept.range().toArray()).to.deep.equal(xs.filter((x) => x % 3 === 0));
    expect(await env.pool.reduce(v, env.pool.task<number, number>(tasks, 'add'), 0, (a, b) => a + b)).to.equal(xs.reduce((a, b) => a + b, 0));
    const into = await ShardedVector.create<number>(env.cluster, 'into');
    await into.pushAll([7, 7]);
    await env.pool.map([1, 2, 3], (x: number) => x * 10, { output: into });
    expect(await into.range().toArray()).to.deep.equal([7, 7, 10, 20, 30]);
  });

  it('maps the entries of a ShardedMap', async () => {
    const m = await ShardedMap.create<string, number>(env.cluster, 'scores', { maxShardBytes: '8KiB' });
    const entries = Array.from({ length: 3_000 }, (_, i): [string, number] => [`k${i}`, i]);
    await m.setMany(entries);
    const inOrder: Array<[string, number]> = [];
    for await (const e of m) inOrder.push(e);
    const out = await env.pool.map(m, ([k, x]: [string, number]) => `${k}=${x * 2}`);
    expect(await out.range().toArray()).to.deep.equal(inOrder.map(([k, x]) => `${k}=${x * 2}`));
    const odd = await env.pool.filter(m, ([, x]: [string, number]) => x % 2 === 1, { output: 'array' });
    expect(odd).to.deep.equal(inOrder.filter(([, x]) => x % 2 === 1));
  });

  it('streams a ShardedVector into a queue, and names the position of a failing element', async () => {
    const xs = data(3, 6_000);
    xs[4_321] = 13;
    const v = await spreadVector(env, 'in-3', xs);
    const q = await ShardedQueue.create<number>(env.cluster, { capacity: 256 });
    const job = env.pool.map(v, env.pool.task<number, number>(tasks, 'square'), { output: q });
    const got: number[] = [];
    for await (const y of q) got.push(y);
    await job;
    expect(got).to.deep.equal(xs.map((x) => x * x));
    const e = await rejects(env.pool.map(v, env.pool.task(tasks, 'failOn13')));
    expect(e).to.be.instanceOf(TaskError);
    expect((e as TaskError).data).to.include({ index: 4_321 });
    expect(await rejects(ShardedVector.open(env.cluster, 'pool'))).to.be.instanceOf(Error);
  });
});
