import { expect } from 'chai';
import { Cluster, CapacityError, TaskError, taskFromFunction, taskSpec } from '@quicksand/core';
import { CruncherType } from './fixtures/types.js';
import { rejects } from './helpers.js';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('compute proclets — tasks on worker threads', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 2, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('places compute proclets on the node with CPUs and runs module tasks there', async () => {
    const c = await cluster.create(CruncherType, []);
    expect(await c.call('where')).to.equal('n1');
    expect(await c.call('run', taskSpec(tasks, 'double'), 21)).to.equal(42);
  });

  it('runs tasks truly in parallel, one per cpus slot (observed concurrency)', async () => {
    const c = await cluster.create(CruncherType, []);
    expect(await c.call('maxOverlap', taskSpec(tasks, 'overlap'), 2)).to.equal(2);
  });

  it('moves bulk input to the worker by transfer, not by clone', async () => {
    const c = await cluster.create(CruncherType, []);
    const r = await c.call('transfer', taskSpec(tasks, 'sumAndEcho'));
    expect(r).to.deep.equal({ detachedAfterSend: true, sum: 1 << 20, echoBytes: 1 << 20 });
  });

  it('fails a throwing task with TaskError carrying the original class and message', async () => {
    const c = await cluster.create(CruncherType, []);
    const e = await rejects(c.call('run', taskSpec(tasks, 'fail'), 3));
    expect(e).to.be.instanceOf(TaskError);
    expect(e.message).to.contain('RangeError').and.contain('task refused 3').and.contain('n1');
  });

  it('ships a self-contained function as source, and says so when it uses an outside variable', async () => {
    const c = await cluster.create(CruncherType, []);
    expect(await c.call('run', taskFromFunction((x: number) => x + 1), 1)).to.equal(2);
    const outside = 10;
    const e = await rejects(c.call('run', taskFromFunction((x: number) => x + outside), 1));
    expect(e.message).to.contain('outside');
  });

  it('refuses a compute proclet on a node without CPUs', async () => {
    expect(await rejects(cluster.create(CruncherType, [], { node: 'n0' }))).to.be.instanceOf(CapacityError);
  });

  it('rejects bad task specs at the call', () => {
    expect(() => taskSpec('relative/path.js', 'x')).to.throw(TypeError, /file: URL or an absolute path/);
    expect(() => taskSpec(tasks, '')).to.throw(TypeError);
  });
});
