import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import { ThreadPool } from '@quicksand/pool';
import { TenantType } from './fixtures/types.js';
import { eventually } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

interface Span {
  thread: number;
  start: number;
  end: number;
}

/** The most spans that run at the same instant. */
function maxOverlap(spans: Span[]): number {
  const events = spans.flatMap((s) => [[s.start, 1] as const, [s.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d));
  return most;
}

describe('ThreadPool jobs — using the cluster\'s CPUs', () => {
  let cluster: Cluster;
  let pool: ThreadPool;
  afterEach(async () => {
    await pool.close();
    await cluster.close();
  });

  it('runs a CPU-bound map on both cores at once (observed overlap of tasks)', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 2, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    const spans = await pool.map(Array.from({ length: 40 }, () => 10), pool.task<number, Span>(tasks, 'spin'));
    expect(new Set(spans.map((s) => s.thread)).size).to.equal(2);
    expect(maxOverlap(spans)).to.equal(2);
  });

  it('runs it on the workers of both nodes of a two-node cluster at once', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    const spans = await pool.map(Array.from({ length: 40 }, () => 10), pool.task<number, Span>(tasks, 'spin'));
    expect(new Set(spans.map((s) => s.thread)).size).to.equal(2);
    expect(maxOverlap(spans)).to.equal(2);
  });

  it('lets an idle compute proclet steal half of the largest remaining range', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    // The first half is slow, the second instant: the runner given the second half
    // finishes at once and must take work from the first.
    const threads = await pool.map(Array.from({ length: 200 }, (_, i) => i), pool.task<number, number>(tasks, 'slowBelow100'));
    expect(pool.stats().steals).to.be.greaterThan(0);
    expect(new Set(threads.slice(0, 100)).size).to.equal(2);
  });

  it('splits a job onto a node whose CPU frees up while it runs', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    const tenant = await cluster.create(TenantType, [], { node: 'n1' });
    const busy = tenant.call('busy', 300);
    await eventually(async () => (await cluster.stats()).nodes.find((n) => n.id === 'n1')!.cpusBusy === 1, 'the tenant to occupy n1');
    const running: number[] = [];
    const spans = await pool.map(Array.from({ length: 100 }, () => 8), pool.task<number, Span>(tasks, 'spin'), {
      onProgress: (p) => running.push(p.running),
    });
    await busy;
    expect(running[0]).to.equal(1);
    expect(Math.max(...running)).to.equal(2);
    expect(pool.stats().splits).to.be.greaterThan(0);
    expect(new Set(spans.map((s) => s.thread)).size).to.equal(2);
  });
});

describe('ThreadPool — compute proclets moved by the scheduler', () => {
  let cluster: Cluster;
  let pool: ThreadPool;
  afterEach(async () => {
    await pool.close();
    await cluster.close();
  });

  it('moves a runner off a node that loses its CPUs to a node with a CPU no runner claims', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 2, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster, { threads: 2 });
    expect(pool.stats().nodes).to.deep.equal({ n0: 1, n1: 1 });
    await cluster.setCapacity('n1', { cpus: 0 });
    await eventually(() => pool.stats().nodes.n0 === 2, 'both runners on n0');
    const xs = Array.from({ length: 5_000 }, (_, i) => i);
    expect(await pool.map(xs, pool.task<number, number>(tasks, 'square'))).to.deep.equal(xs.map((x) => x * x));
  });

  it('keeps its runner where no CPU is free elsewhere: the work yields to the other node instead', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    const xs = Array.from({ length: 400 }, (_, i) => i);
    let done = 0;
    const job = pool.map(xs, pool.task<number, number>(tasks, 'slowSquare'), { onProgress: (p) => (done = p.done) });
    await eventually(() => done > 20, 'the job under way on both nodes');
    await cluster.setCapacity('n1', { cpus: 0 });
    expect(await job).to.deep.equal(xs.map((x) => x * x));
    expect(pool.stats().nodes).to.deep.equal({ n0: 1, n1: 1 });
    expect(pool.stats().yields).to.be.greaterThan(0);
  });

  it('stops work on a node between two elements when its CPU is taken, and resumes when it returns', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }] });
    pool = await ThreadPool.create(cluster);
    const xs = Array.from({ length: 3_000 }, (_, i) => i);
    let done = 0;
    const job = pool.map(xs, pool.task<number, number>(tasks, 'slowSquare'), { onProgress: (p) => (done = p.done) });
    await eventually(() => done > 10, 'the job under way');
    // The CPU may be taken between two chunks (nothing to stop then): take it while a
    // chunk runs, and try again if it was between chunks after all.
    for (let attempt = 0; attempt < 5 && pool.stats().yields === 0; attempt++) {
      await eventually(async () => (await cluster.stats()).nodes[0]!.cpusBusy === 1, 'a chunk running');
      await cluster.setCapacity('n0', { cpus: 0 });
      // No CPU anywhere: the running chunk stops between two elements and the worker idles.
      await eventually(async () => (await cluster.stats()).nodes[0]!.cpusBusy === 0, 'the worker idle');
      expect(done).to.be.lessThan(xs.length);
      if (pool.stats().yields === 0) await cluster.setCapacity('n0', { cpus: 1 });
    }
    expect(pool.stats().yields).to.be.greaterThan(0);
    await cluster.setCapacity('n0', { cpus: 1 });
    expect(await job).to.deep.equal(xs.map((x) => x * x));
  });
});
