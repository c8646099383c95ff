import { expect } from 'chai';
import { AbortedError, TaskError } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { eventually, rejects, usePool } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('ThreadPool jobs — errors and cancellation', () => {
  const env = usePool();

  const xs = Array.from({ length: 5_000 }, (_, i) => (i === 3_210 ? 13 : i + 100));

  it('fails a job with TaskError naming the position of the element that threw and its original error', async () => {
    const e = await rejects(env.pool.map(xs, env.pool.task(tasks, 'failOn13')));
    expect(e).to.be.instanceOf(TaskError);
    expect((e as TaskError).data).to.include({ index: 3_210 });
    expect(e.message).to.contain('element 3210').and.contain('RangeError').and.contain('thirteen is not welcome');
    expect((e as TaskError).cause).to.be.instanceOf(RangeError);
  });

  it('names the position within a stream source, and for filter, reduce and forEach too', async () => {
    const fromStream = await rejects(env.pool.filter((async function* () { yield* xs; })(), env.pool.task(tasks, 'failOn13')));
    expect((fromStream as TaskError).data).to.include({ index: 3_210 });
    expect(await rejects(env.pool.reduce(xs, (a: number, x: number) => (x === 13 ? Number.parseInt('x', 10) + a + (null as unknown as { f: number }).f : a + x), 0, (a, b) => a + b))).to.be.instanceOf(TaskError).with.nested.property('data.index', 3_210);
    expect(await rejects(env.pool.forEach(xs, env.pool.task(tasks, 'failOn13')))).to.be.instanceOf(TaskError).with.nested.property('data.index', 3_210);
  });

  it('says so when a shipped function uses a variable from outside it', async () => {
    const offset = 1;
    const e = await rejects(env.pool.map(xs, (x: number) => x + offset));
    expect(e).to.be.instanceOf(TaskError);
    expect(e.message).to.contain('offset').and.contain('outside');
    // Every element throws; the first failure to arrive fails the job (each runner starts its own range).
    expect((e as TaskError).data.index).to.be.a('number').within(0, xs.length - 1);
  });

  it('cancels a job on abort and frees its workers for the next job', async () => {
    const ac = new AbortController();
    let started = 0;
    const job = env.pool.map(
      Array.from({ length: 2_000 }, () => 5),
      env.pool.task(tasks, 'spin'),
      {
        signal: ac.signal,
        onProgress: (p) => {
          started = p.done;
        },
      },
    );
    await eventually(() => started > 0, 'the job to make progress');
    ac.abort();
    expect(await rejects(job)).to.be.instanceOf(AbortedError);
    await eventually(async () => (await env.cluster.stats()).nodes.every((n) => n.cpusBusy === 0 && n.tasksQueued === 0), 'workers idle after the abort');
    expect(await env.pool.map([1, 2, 3], env.pool.task<number, number>(tasks, 'square'))).to.deep.equal([1, 4, 9]);
  });

  it('rejects at once for a signal aborted before the start', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await rejects(env.pool.map([1, 2], (x: number) => x, { signal: ac.signal }))).to.be.instanceOf(AbortedError);
  });

  it('closes its output queue when it fails, so consumers end', async () => {
    const out = await ShardedQueue.create<number>(env.cluster, { capacity: 100 });
    const job = env.pool.map(xs, env.pool.task<number, number>(tasks, 'failOn13'), { output: out });
    const got: number[] = [];
    for await (const y of out) got.push(y);
    expect(await rejects(job)).to.be.instanceOf(TaskError);
    expect(got).to.deep.equal(xs.slice(0, got.length));
    expect(got.length).to.be.below(3_210 + 1);
  });

  it('fails with the error of a source that throws', async () => {
    const broken = (async function* () {
      yield 1;
      throw new URIError('the source broke');
    })();
    expect(await rejects(env.pool.map(broken, (x: number) => x))).to.be.instanceOf(URIError);
  });

  it('rejects bad sources and options, naming them', async () => {
    expect(await rejects(env.pool.map(42 as never, (x: number) => x))).to.be.instanceOf(TypeError).with.property('message').that.contains('source');
    expect(await rejects(env.pool.map([1], (x: number) => x, { output: 'set' as never }))).to.be.instanceOf(TypeError).with.property('message').that.contains('options.output');
    expect(await rejects(env.pool.map([1], (x: number) => x, { signal: 'stop' as never }))).to.be.instanceOf(TypeError).with.property('message').that.contains('options.signal');
    expect(await rejects(env.pool.reduce([1], (a: number) => a, 0, 'plus' as never))).to.be.instanceOf(TypeError).with.property('message').that.contains('combine');
    expect(await rejects(env.pool.forEach([1], 'task' as never))).to.be.instanceOf(TypeError).with.property('message').that.contains('task');
  });
});
