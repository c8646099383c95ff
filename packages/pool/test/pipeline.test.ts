import { expect } from 'chai';
import type { JobProgress } from '@quicksand/pool';
import { ShardedQueue } from '@quicksand/queue';
import { eventually, usePool } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('ThreadPool jobs — a pipeline through a bounded queue', () => {
  const env = usePool();

  it('keeps every element exactly once, in order, while the consumer stops and speeds up; compute proclets follow it', async () => {
    const n = 4_000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const q = await ShardedQueue.create<number>(env.cluster, { capacity: 64 });
    let progress: JobProgress = { done: 0, total: n, running: 0 };
    const job = env.pool.map(xs, env.pool.task<number, number>(tasks, 'work'), { output: q, onProgress: (p) => (progress = p) });
    const got: number[] = [];
    // Fast at first.
    while (got.length < 500) got.push(...(await q.popMany(16)));
    expect(progress.running).to.equal(2);
    // The consumer stops: the queue fills and the job suspends a compute proclet.
    await eventually(() => progress.running === 1, 'rate matching to suspend a compute proclet');
    const suspended = env.pool.stats().suspensions;
    expect(suspended).to.be.greaterThan(0);
    // The consumer is back and faster than ever: the job resumes it.
    const drain = (async () => {
      for (let batch = await q.popMany(64); batch.length > 0; batch = await q.popMany(64)) got.push(...batch);
    })();
    await eventually(() => progress.running === 2 || progress.done === n, 'rate matching to resume a compute proclet');
    await job;
    await drain;
    expect(got).to.deep.equal(xs);
    expect(env.pool.stats().resumptions).to.be.greaterThan(0);
  });

  it('cancels a job blocked on a full queue nobody drains, and closes the queue', async () => {
    const q = await ShardedQueue.create<number>(env.cluster, { capacity: 8 });
    const ac = new AbortController();
    const xs = Array.from({ length: 1_000 }, (_, i) => i);
    const job = env.pool.map(xs, env.pool.task<number, number>(tasks, 'work'), { output: q, signal: ac.signal });
    await eventually(async () => (await q.length()) === 8, 'the queue full');
    ac.abort();
    const err = await job.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.have.property('code', 'QS_ERR_ABORTED');
    expect((await q.stats()).closed).to.equal(true);
    expect(await q.popMany(100)).to.have.length(8);
  });
});
