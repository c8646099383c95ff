import { expect } from 'chai';
import { Cluster, MemoryBudgetError, MigrationError } from '@quicksand/core';
import type { MigrationEvent } from '@quicksand/core';
import { releaseFrame, viewFrom } from '@quicksand/core/internal';
import { BlobType, CounterType, OwnedBlobType, UnmovableType } from './fixtures/types.js';
import { eventually, rejects } from './helpers.js';

describe('migration — moving a proclet between in-process nodes', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '2MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('keeps the state and moves the proclet, and its calls follow', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    await ref.call('add', 41);
    const ev = await cluster.migrate(ref, 'n0');
    expect(ev).to.include({ proclet: ref.id, from: 'n1', to: 'n0', reason: 'requested' });
    expect(ev.bytes).to.be.greaterThan(0);
    expect(await ref.call('where')).to.equal('n0');
    expect(await ref.call('add', 1)).to.equal(42);
    await cluster.migrate(ref, 'n1');
    expect(await ref.call('where')).to.equal('n1');
    expect(await cluster.locate(ref)).to.equal('n1');
  });

  it('leaves arrays a caller got by reference intact, unless the type transfers its state', async () => {
    for (const [type, detached] of [[BlobType, false], [OwnedBlobType, true]] as const) {
      const blob = await cluster.create(type, [256 * 1024], { node: 'n0' });
      const sum = await blob.call('checksum');
      const local = viewFrom(cluster, 'n0').ref<InstanceType<typeof BlobType.ctor>>(blob.id);
      const old = await local.call('bytes'); // the source's own array (a local call)
      expect(old.byteLength).to.equal(256 * 1024);
      await cluster.migrate(blob, 'n1');
      expect(old.byteLength).to.equal(detached ? 0 : 256 * 1024);
      expect(await blob.call('checksum')).to.equal(sum);
    }
  });

  it('releases only whole, large buffers of a delivered frame', () => {
    const whole = new Uint8Array(64 * 1024);
    const big = new Uint8Array(128 * 1024);
    const part = big.subarray(0, 64 * 1024);
    const small = new Uint8Array(1024);
    releaseFrame([small, whole, part]);
    expect(whole.byteLength).to.equal(0);
    expect(part.byteLength).to.equal(64 * 1024);
    expect(small.byteLength).to.equal(1024);
    releaseFrame(big); // a single-buffer frame: nothing out of band, nothing released
    expect(big.byteLength).to.equal(128 * 1024);
  });

  it('emits a migration event with state size and blocking window', async () => {
    const seen: MigrationEvent[] = [];
    cluster.on('migration', (e) => seen.push(e));
    const blob = await cluster.create(BlobType, [256 * 1024], { node: 'n0' });
    const sum = await blob.call('checksum');
    await cluster.migrate(blob, 'n1');
    await eventually(() => seen.length === 1, 'one migration event');
    expect(seen[0]!.bytes).to.be.greaterThan(256 * 1024);
    expect(seen[0]!.blockingMs).to.be.a('number').and.at.least(0);
    expect(await blob.call('checksum')).to.equal(sum);
  });

  it('answers a stale cached location with moved, and the caller retries without seeing it', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const fromN2 = viewFrom(cluster, 'n2').ref<InstanceType<typeof CounterType.ctor>>(ref.id);
    expect(await fromN2.call('add', 1)).to.equal(1); // n2 now caches "n1"
    await cluster.migrate(ref, 'n0');
    expect(await fromN2.call('add', 1)).to.equal(2); // n1 answers moved -> n0
    await cluster.migrate(ref, 'n1');
    await cluster.migrate(ref, 'n0');
    expect(await fromN2.call('add', 1)).to.equal(3);
    const moved = viewFrom(cluster, 'n2').runtime.counters.moved;
    expect(moved).to.be.greaterThan(0);
  });

  it('runs calls here once their proclet moved here, not through the place a ref remembered', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const n2 = viewFrom(cluster, 'n2');
    const fromN2 = n2.ref<InstanceType<typeof CounterType.ctor>>(ref.id);
    expect(await fromN2.call('add', 1)).to.equal(1);
    expect(await fromN2.call('add', 1)).to.equal(2); // sent to the place the ref keeps
    await cluster.migrate(ref, 'n2');
    const moved = n2.runtime.counters.moved;
    expect(await fromN2.call('add', 1)).to.equal(3);
    expect(n2.runtime.counters.moved).to.equal(moved); // not sent to n1 and answered MOVED
  });

  it('queues calls that race the migration and runs each exactly once', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const fromN2 = viewFrom(cluster, 'n2').ref<InstanceType<typeof CounterType.ctor>>(ref.id);
    const calls: Array<Promise<number>> = [];
    for (let i = 0; i < 50; i++) calls.push(ref.call('recordLater', `a${i}`), fromN2.call('record', `b${i}`));
    const mig = cluster.migrate(ref, 'n0');
    for (let i = 0; i < 50; i++) calls.push(ref.call('record', `c${i}`), fromN2.call('recordLater', `d${i}`));
    await mig;
    await Promise.all(calls);
    const log = await ref.call('getLog');
    expect(log).to.have.length(200);
    expect(new Set(log).size).to.equal(200);
  });

  it('refuses a target without room with MemoryBudgetError, and the proclet stays put', async () => {
    const blob = await cluster.create(BlobType, [3 * 1024 * 1024], { node: 'n0' });
    await blob.call('report');
    await eventually(async () => (await cluster.stats()).proclets.some((p) => p.id === blob.id && p.size > 0), 'size reported');
    const e = await rejects(cluster.migrate(blob, 'n2'));
    expect(e).to.be.instanceOf(MemoryBudgetError);
    expect(e.message).to.contain('n2');
    expect(await cluster.locate(blob)).to.equal('n0');
  });

  it('fails a migration whose state cannot be encoded with MigrationError, and the proclet keeps serving', async () => {
    const ref = await cluster.create(UnmovableType, [], { node: 'n1' });
    const during = ref.call('ping');
    const e = await rejects(cluster.migrate(ref, 'n0'));
    expect(e).to.be.instanceOf(MigrationError);
    expect(e.message).to.contain(ref.id).and.contain('stays on n1');
    expect(await during).to.equal('pong');
    expect(await ref.call('ping')).to.equal('pong');
    expect(await cluster.locate(ref)).to.equal('n1');
  });

  it('refuses to migrate pinned system proclets', async () => {
    const e = await rejects(cluster.migrate('@n1', 'n0'));
    expect(e.message).to.match(/no proclet|pinned/);
  });

  it('serializes concurrent migrations of one proclet', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n0' });
    await ref.call('add', 1);
    const moves = await Promise.all([cluster.migrate(ref, 'n1'), cluster.migrate(ref, 'n2'), cluster.migrate(ref, 'n0')]);
    expect(moves.map((m) => m.to)).to.deep.equal(['n1', 'n2', 'n0']);
    expect(await ref.call('add', 1)).to.equal(2);
    expect((await cluster.stats()).migrations).to.equal(3);
  });
});
