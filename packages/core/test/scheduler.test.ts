import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import type { CapacityEvent, MigrationEvent } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { BlobType, CounterType, CruncherType } from './fixtures/types.js';
import { eventually, rejects } from './helpers.js';
import { taskSpec } from '@quicksand/core';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);
const MiB = 1024 * 1024;

async function blob(cluster: Cluster, node: string, bytes: number) {
  const b = await cluster.create(BlobType, [bytes], { node });
  await b.call('report');
  return b;
}

describe('scheduler — memory pressure, capacity, drain and rebalance', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('moves memory proclets away when a node grows past its budget', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '10MiB' }, { cpus: 0, memory: '64MiB' }] });
    const moved: MigrationEvent[] = [];
    cluster.on('migration', (e) => moved.push(e));
    const blobs = [];
    for (let i = 0; i < 4; i++) blobs.push(await blob(cluster, 'n0', 3 * MiB)); // 12 MiB on a 10 MiB node
    await eventually(async () => (await cluster.stats()).nodes[0]!.memoryUsed <= 9 * MiB, 'n0 under its high-water mark');
    expect(moved.length).to.be.greaterThan(0);
    expect(moved.every((e) => e.reason === 'memory-pressure' && e.from === 'n0' && e.to === 'n1')).to.equal(true);
    for (const b of blobs) expect(await b.call('checksum')).to.be.a('number');
  });

  it('follows a shrinking memory budget (another tenant takes memory)', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '32MiB' }, { cpus: 0, memory: '32MiB' }] });
    const blobs = [];
    for (let i = 0; i < 4; i++) blobs.push(await blob(cluster, 'n1', 4 * MiB));
    const capacity: CapacityEvent[] = [];
    cluster.on('capacity', (e) => capacity.push(e));
    const ev = await cluster.setCapacity('n1', { memory: '8MiB' });
    expect(ev).to.deep.equal({ node: 'n1', cpus: 0, memory: 8 * MiB });
    await eventually(async () => (await cluster.stats()).nodes[1]!.memoryUsed <= 8 * MiB * 0.9, 'n1 under its new budget');
    await eventually(() => capacity.length === 1, 'capacity event');
    const stats = await cluster.stats();
    expect(stats.proclets.filter((p) => p.node === 'n0').length).to.be.at.least(2);
    for (const b of blobs) expect(await b.call('checksum')).to.be.a('number');
  });

  it('applies a CPU capacity change to the node worker slots', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 2, memory: '16MiB' }] });
    const c = await cluster.create(CruncherType, []);
    const overlap = taskSpec(tasks, 'overlap');
    expect(await c.call('maxOverlap', overlap, 2)).to.equal(2);
    await cluster.setCapacity('n0', { cpus: 1 });
    // One slot now: two tasks cannot overlap (each gives up waiting for the other).
    expect(await c.call('maxOverlapWithin', overlap, 2, 300)).to.equal(1);
    await cluster.setCapacity('n0', { cpus: 2 });
    expect(await c.call('maxOverlap', overlap, 2)).to.equal(2);
  });

  it('applies a capacity change scheduled for a given instant on the node clock', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 2, memory: '16MiB' }] });
    const events: CapacityEvent[] = [];
    cluster.on('capacity', (e) => events.push(e));
    const at = performance.timeOrigin + performance.now() + 50;
    await cluster.setCapacity('n0', { cpus: 1 }, { at });
    expect(events).to.have.length(0); // not yet
    await eventually(() => events.length === 1, 'the scheduled change');
    expect(performance.timeOrigin + performance.now()).to.be.at.least(at);
    expect(events[0]).to.deep.equal({ node: 'n0', cpus: 1, memory: 16 * MiB });
    expect((await cluster.stats()).nodes[0]!.cpus).to.equal(1);
    await rejects(cluster.setCapacity('n0', { cpus: 1 }, { at: Number.NaN })).then((e) => expect(e.message).to.contain('options.at'));
  });

  it('moves compute proclets off a node left with no CPUs', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '16MiB' }, { cpus: 1, memory: '16MiB' }] });
    const c = await cluster.create(CruncherType, [], { node: 'n1' });
    await cluster.setCapacity('n1', { cpus: 0 });
    await eventually(async () => (await cluster.locate(c)) === 'n0', 'the compute proclet on n0');
    expect(await c.call('run', taskSpec(tasks, 'double'), 4)).to.equal(8);
  });

  it('drains a node: every proclet moves, calls through stale locations still arrive, the node leaves', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
    const counters = await Promise.all([0, 1, 2, 3, 4].map(() => cluster.create(CounterType, [], { node: 'n2' })));
    const big = await blob(cluster, 'n2', 2 * MiB);
    for (const c of counters) await c.call('add', 1);
    const fromN1 = counters.map((c) => viewFrom(cluster, 'n1').ref<InstanceType<typeof CounterType.ctor>>(c.id));
    for (const r of fromN1) await r.call('add', 1); // n1 caches "n2"
    const racing = counters.map((c) => c.call('addLater', 1));
    const res = await cluster.drain('n2');
    expect(res.moved).to.equal(6);
    expect(res.node).to.equal('n2');
    await Promise.all(racing);
    for (const r of fromN1) expect(await r.call('get')).to.equal(3);
    expect(await big.call('checksum')).to.be.a('number');
    const stats = await cluster.stats();
    expect(stats.proclets.some((p) => p.node === 'n2')).to.equal(false);
    expect(stats.lostProclets).to.equal(0);
    expect((await cluster.nodes()).sort()).to.deep.equal(['n0', 'n1']);
    const fresh = await cluster.create(CounterType, []);
    expect(await cluster.locate(fresh)).to.not.equal('n2');
  });

  it('refuses to drain the controller node and to place on a draining node', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }] });
    expect((await rejects(cluster.drain('n0'))).message).to.contain('controller');
    await rejects(cluster.setCapacity('n1', { cpus: -1 })).then((e) => expect(e.message).to.contain('capacity.cpus'));
  });

  it('rebalances badly uneven memory use with the slow global pass', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }] });
    const moved: MigrationEvent[] = [];
    cluster.on('migration', (e) => moved.push(e));
    for (let i = 0; i < 6; i++) await blob(cluster, 'n0', 2 * MiB); // n0 at 75%, n1 empty
    await eventually(() => moved.some((e) => e.reason === 'rebalance'), 'a rebalance move');
    await eventually(async () => {
      const s = await cluster.stats();
      return Math.abs(s.nodes[0]!.memoryUsed - s.nodes[1]!.memoryUsed) <= 4 * MiB;
    }, 'memory evened out');
  });
});
