import { expect } from 'chai';
import { AbortedError, TaskError, taskFromFunction, taskSpec } from '@quicksand/core';
import { WorkerPool, rangeTask } from '@quicksand/core/internal';
import type { RangeOutput } from '@quicksand/core/internal';
import { rejects } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('WorkerPool — many small tasks in flight', () => {
  let pool: WorkerPool;
  beforeEach(() => {
    pool = new WorkerPool(2, 'test');
  });
  afterEach(async () => {
    await pool.close();
  });

  it('settles every one of 20,000 concurrent tasks exactly once with its own result', async () => {
    const inc = taskSpec(tasks, 'inc');
    const n = 20_000;
    const settled = new Array<number>(n).fill(0);
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        pool.run(inc, i).then((v) => {
          settled[i]!++;
          return v as number;
        }),
      ),
    );
    expect(results.every((v, i) => v === i + 1)).to.equal(true);
    expect(settled.every((c) => c === 1)).to.equal(true);
    expect(pool.completed).to.equal(n);
    expect(pool.queued).to.equal(0);
  });

  it('fails only the tasks that threw when they share a batch with tasks that did not', async () => {
    const spec = taskSpec(tasks, 'failOdd');
    await pool.run(spec, 0); // measured as short: later calls are batched
    const outcomes = await Promise.allSettled(Array.from({ length: 2_000 }, (_, i) => pool.run(spec, i)));
    outcomes.forEach((o, i) => {
      if (i % 2 === 0) expect(o).to.deep.equal({ status: 'fulfilled', value: i });
      else {
        expect(o.status).to.equal('rejected');
        const e = (o as PromiseRejectedResult).reason as Error;
        expect(e).to.be.instanceOf(TaskError);
        expect(e.message).to.contain(`odd input ${i}`);
      }
    });
  });

  it('awaits async tasks and keeps their results in order', async () => {
    const spec = taskSpec(tasks, 'squareLater');
    const results = await Promise.all(Array.from({ length: 1_000 }, (_, i) => pool.run(spec, i)));
    expect(results).to.deep.equal(Array.from({ length: 1_000 }, (_, i) => i * i));
  });

  it('fails a task whose result cannot leave the worker, and not its neighbours', async () => {
    const inc = taskSpec(tasks, 'inc');
    await pool.run(inc, 1);
    const bad = pool.run(taskSpec(tasks, 'unsendable'), null);
    const good = Array.from({ length: 100 }, (_, i) => pool.run(inc, i));
    const e = await rejects(bad);
    expect(e).to.be.instanceOf(TaskError);
    expect(e.message).to.contain('cannot be sent back');
    expect(await Promise.all(good)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('rejects an aborted task that still waits in the queue, and runs the rest', async () => {
    const inc = taskSpec(tasks, 'inc');
    const ac = new AbortController();
    const first = Array.from({ length: 500 }, (_, i) => pool.run(inc, i));
    const aborted = pool.run(inc, -1, { signal: ac.signal });
    ac.abort();
    expect(await rejects(aborted)).to.be.instanceOf(AbortedError);
    expect((await Promise.all(first)).length).to.equal(500);
    expect(pool.queued).to.equal(0);
  });

  it('still runs measured long tasks one per worker, both workers at once', async () => {
    const spin = taskFromFunction((ms: number) => {
      const t0 = performance.timeOrigin + performance.now();
      while (performance.timeOrigin + performance.now() - t0 < ms);
      return [t0, performance.timeOrigin + performance.now()];
    });
    await Promise.all([pool.run(spin, 5), pool.run(spin, 5)]); // both workers started, the task measured
    const spans = (await Promise.all(Array.from({ length: 4 }, () => pool.run(spin, 40)))) as Array<[number, number]>;
    spans.sort((a, b) => a[0] - b[0]);
    // Four 40 ms tasks on two workers: the first two overlap each other.
    expect(spans[1]![0]).to.be.lessThan(spans[0]![1]);
  });
});

describe('WorkerPool — resized while batches run', () => {
  it('lets no more than the new size of workers run at once, batched or not', async () => {
    const pool = new WorkerPool(2, 'test');
    try {
      const spin = taskFromFunction((ms: number) => {
        const t0 = performance.timeOrigin + performance.now();
        while (performance.timeOrigin + performance.now() - t0 < ms);
        return [t0, performance.timeOrigin + performance.now()];
      });
      await Promise.all([pool.run(spin, 0.05), pool.run(spin, 0.05)]); // measured as short: batched from now on
      const before = Array.from({ length: 200 }, () => pool.run(spin, 0.5));
      pool.resize(1);
      const resizedAt = performance.timeOrigin + performance.now();
      const after = (await Promise.all(Array.from({ length: 200 }, () => pool.run(spin, 0.5)))) as Array<[number, number]>;
      await Promise.all(before);
      // Every task queued after the resize that started once the earlier work was done
      // ran alone: no two of them overlap.
      const lastBefore = Math.max(...((await Promise.all(before)) as Array<[number, number]>).map((s) => s[1]));
      const late = after.filter((s) => s[0] > Math.max(resizedAt, lastBefore)).sort((a, b) => a[0] - b[0]);
      expect(late.length).to.be.greaterThan(10);
      for (let i = 1; i < late.length; i++) expect(late[i]![0]).to.be.at.least(late[i - 1]![1]);
      pool.resize(2);
      expect(await pool.run(spin, 0.05)).to.have.length(2);
    } finally {
      await pool.close();
    }
  });
});

describe('WorkerPool — capacity changes scheduled ahead', () => {
  const now = (): number => performance.timeOrigin + performance.now();
  /** Spins `ms` (0.2 by default) and returns the moment it started, on the worker's clock. */
  const startedAt = taskFromFunction((ms?: number) => {
    const t0 = performance.timeOrigin + performance.now();
    while (performance.timeOrigin + performance.now() - t0 < (ms ?? 0.2));
    return t0;
  });
  let pool: WorkerPool;
  beforeEach(async () => {
    pool = new WorkerPool(1, 'test');
    await pool.run(startedAt, 0); // the worker is up
  });
  afterEach(async () => {
    await pool.close();
  });

  it('stops a range task between two elements at a scheduled drop that this thread never applies', async () => {
    const items = Array.from({ length: 5_000 }, () => 0.2); // a second of work
    const at = now() + 30;
    // No `resize` follows: only the worker, reading the schedule on its own clock, can stop.
    pool.schedule(at, 0);
    const out = (await pool.run(rangeTask('map'), { fn: startedAt, items, start: 0 }, { yieldValue: null })) as RangeOutput;
    expect(out.yielded).to.equal(true);
    expect(out.n).to.be.below(items.length);
    for (const t of out.values as number[]) expect(t).to.be.below(at);
  });

  it('starts queued work at a scheduled return that this thread never applies, not before', async () => {
    pool.resize(0);
    const at = now() + 30;
    // The task goes to the worker shortly before `at` and waits there for the instant.
    pool.schedule(at, 1);
    expect(await pool.run(startedAt, 0)).to.be.at.least(at);
  });

  it('sends a worker its next range task while it runs one, so it goes on while this thread is busy', async () => {
    const chunk = (): Promise<unknown> => pool.run(rangeTask('map'), { fn: startedAt, items: Array.from({ length: 50 }, () => 0.2), start: 0 }, { yieldValue: null });
    await chunk(); // measured: a long task from now on
    const first = chunk();
    const second = chunk();
    // This thread is busy until long after both could have run: the second can only run
    // meanwhile if it was already sent to the worker.
    const blockedUntil = now() + 200;
    while (now() < blockedUntil);
    const [a, b] = (await Promise.all([first, second])) as RangeOutput[];
    expect(a!.n).to.equal(50);
    expect((b!.values as number[])[0]).to.be.below(blockedUntil);
  });
});
