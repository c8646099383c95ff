import { expect } from 'chai';
import { AbortedError, ClosedError, TaskError } from '@quicksand/core';
import { ThreadPool } from '@quicksand/pool';
import { rejects, usePool } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('ThreadPool.run — one task on a compute proclet', () => {
  const env = usePool();

  it('places one compute proclet per CPU of the cluster', async () => {
    expect(env.pool.threads).to.equal(2);
    expect(env.pool.stats().nodes).to.deep.equal({ n0: 1, n1: 1 });
    const computes = (await env.cluster.stats()).proclets.filter((p) => p.kind === 'compute');
    expect(computes.map((p) => p.node).sort()).to.deep.equal(['n0', 'n1']);
  });

  it('runs a module task and a shipped function, and resolves with their results', async () => {
    const square = env.pool.task<number, number>(tasks, 'square');
    expect(await env.pool.run(square, 7)).to.equal(49);
    expect(await env.pool.run((s: string) => s.toUpperCase(), 'shipped')).to.equal('SHIPPED');
    const typed = env.pool.task((x: { a: number }) => ({ b: x.a + 1 }));
    expect(await env.pool.run(typed, { a: 1 })).to.deep.equal({ b: 2 });
  });

  it('keeps thousands of calls in flight and answers each with its own result', async () => {
    const square = env.pool.task<number, number>(tasks, 'square');
    const n = 10_000;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => env.pool.run(square, i)));
    expect(results.every((v, i) => v === i * i)).to.equal(true);
    expect(env.pool.stats().tasks).to.equal(n);
  });

  it('fails with TaskError carrying the original error, and names an outside variable as the cause', async () => {
    const fail = env.pool.task<number, number>(tasks, 'failOn13');
    const e = await rejects(env.pool.run(fail, 13));
    expect(e).to.be.instanceOf(TaskError);
    expect((e as TaskError).cause).to.be.instanceOf(RangeError);
    expect(e.message).to.contain('thirteen is not welcome');
    const factor = 3;
    const outside = await rejects(env.pool.run((x: number) => x * factor, 2));
    expect(outside).to.be.instanceOf(TaskError);
    expect(outside.message).to.contain('factor').and.contain('outside');
  });

  it('moves buffers to the worker when asked to', async () => {
    const buf = new Uint8Array(1 << 16).fill(3);
    const sum = await env.pool.run((b: Uint8Array) => b.reduce((a, x) => a + x, 0), buf, { transfer: true });
    expect(sum).to.equal(3 << 16);
    // Sent by transfer from a local runner, or copied to a remote one: never both.
    expect([0, 1 << 16]).to.include(buf.byteLength);
  });

  it('rejects an aborted call, and every call once the env.pool is closed', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await rejects(env.pool.run((x: number) => x, 1, { signal: ac.signal }))).to.be.instanceOf(AbortedError);
    await env.pool.close();
    expect(await rejects(env.pool.run((x: number) => x, 1))).to.be.instanceOf(ClosedError);
    expect((await env.cluster.stats()).proclets.filter((p) => p.kind === 'compute')).to.have.length(0);
  });

  it('rejects bad options and tasks, naming what is wrong', async () => {
    expect(await rejects(ThreadPool.create(env.cluster, { threads: 0 }))).to.be.instanceOf(RangeError).with.property('message').that.contains('options.threads');
    expect(await rejects(env.pool.run({} as never, 1))).to.be.instanceOf(TypeError).with.property('message').that.contains('task');
    expect(() => env.pool.task('relative.js', 'x')).to.throw(TypeError);
  });
});
