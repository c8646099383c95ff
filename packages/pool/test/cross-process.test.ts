import { expect } from 'chai';
import { AbortedError, TaskError } from '@quicksand/core';
import type { Cluster } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { ThreadPool } from '@quicksand/pool';
import { ShardedQueue } from '@quicksand/queue';
import { ShardedVector } from '@quicksand/vector';
import { eventually, rejects, rng } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('ThreadPool — compute proclets in separate node processes', () => {
  let cluster: Cluster;
  let pool: ThreadPool;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }], logs: 'silent' });
    pool = await ThreadPool.create(cluster);
  });
  after(async () => {
    await pool.close();
    await cluster.close();
  });

  it('places one compute proclet per node process and runs tasks there', async () => {
    expect(pool.stats().nodes).to.deep.equal({ n0: 1, n1: 1 });
    expect(await pool.run(pool.task<number, number>(tasks, 'square'), 12)).to.equal(144);
    expect(await pool.run((s: string) => s.length, 'shipped')).to.equal(7);
  });

  it('matches Array methods on random data, from this process (a client that hosts nothing)', async () => {
    const random = rng(77);
    const xs = Array.from({ length: 20_000 }, () => Math.floor(random() * 1e6));
    expect(await pool.map(xs, pool.task<number, number>(tasks, 'square'))).to.deep.equal(xs.map((x) => x * x));
    expect(await pool.filter(xs, pool.task(tasks, 'multipleOf3'))).to.deep.equal(xs.filter((x) => x % 3 === 0));
    expect(await pool.reduce(xs, pool.task<number, number>(tasks, 'add'), 0, (a, b) => a + b)).to.equal(xs.reduce((a, b) => a + b, 0));
  });

  it('uses both processes\' workers at once', async () => {
    const spans = await pool.map(Array.from({ length: 40 }, () => 10), pool.task<number, { thread: number; start: number; end: number }>(tasks, 'spin'));
    const byStart = [...spans].sort((a, b) => a.start - b.start);
    let overlap = false;
    for (let i = 1; i < byStart.length; i++) if (byStart[i]!.start < byStart[i - 1]!.end) overlap = true;
    expect(overlap).to.equal(true);
  });

  it('streams results in order into a queue that lives in the node processes', async () => {
    const q = await ShardedQueue.create<number>(cluster, { capacity: 100, segmentBytes: '4KiB' });
    const xs = Array.from({ length: 5_000 }, (_, i) => i);
    const job = pool.map(xs, pool.task<number, number>(tasks, 'square'), { output: q });
    const got: number[] = [];
    for await (const y of q) got.push(y);
    await job;
    expect(got).to.deep.equal(xs.map((x) => x * x));
  });

  it('maps a ShardedVector living in the node processes into a new one, runners reading the shards', async () => {
    const random = rng(78);
    const xs = Array.from({ length: 30_000 }, () => Math.floor(random() * 1e6));
    const v = await ShardedVector.create<number>(cluster, 'xp-in', { maxShardBytes: '16KiB' });
    await v.pushAll(xs);
    const out = await pool.map(v, pool.task<number, number>(tasks, 'square'));
    expect(await out.range().toArray()).to.deep.equal(xs.map((x) => x * x));
    expect(await pool.reduce(v, pool.task<number, number>(tasks, 'add'), 0, (a, b) => a + b)).to.equal(xs.reduce((a, b) => a + b, 0));
  });

  it('fails with TaskError naming the element and the node, and cancels on abort', async () => {
    const xs = Array.from({ length: 3_000 }, (_, i) => (i === 2_999 ? 13 : i + 100));
    const e = await rejects(pool.map(xs, pool.task(tasks, 'failOn13')));
    expect(e).to.be.instanceOf(TaskError);
    expect((e as TaskError).data).to.include({ index: 2_999 });
    expect(e.message).to.contain('thirteen').and.match(/node n[01]/);
    const ac = new AbortController();
    let done = 0;
    const job = pool.map(Array.from({ length: 1_000 }, () => 5), pool.task(tasks, 'spin'), { signal: ac.signal, onProgress: (p) => (done = p.done) });
    await eventually(() => done > 0, 'progress');
    ac.abort();
    expect(await rejects(job)).to.be.instanceOf(AbortedError);
    await eventually(async () => (await cluster.stats()).nodes.every((n) => n.cpusBusy === 0 && n.tasksQueued === 0), 'idle workers');
  });
});
