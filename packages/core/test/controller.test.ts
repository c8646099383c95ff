import { expect } from 'chai';
import { Cluster, MemoryBudgetError, NodeLostError } from '@quicksand/core';
import type { NodeLostEvent } from '@quicksand/core';
import { killInProcessNode, viewFrom } from '@quicksand/core/internal';
import { BlobType, CounterType, CruncherType } from './fixtures/types.js';
import { eventually, rejects, settle } from './helpers.js';

describe('controller — directory, placement and stats', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('lists nodes, proclets and sizes in stats', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '8MiB' }, { cpus: 2, memory: '16MiB' }] });
    const blob = await cluster.create(BlobType, [1 << 20], { node: 'n1' });
    await blob.call('report');
    await eventually(async () => (await cluster.stats()).proclets.some((p) => p.size === 1 << 20), 'the blob reports 1 MiB');
    const s = await cluster.stats();
    expect(s.nodes.map((n) => [n.id, n.cpus, n.memory])).to.deep.equal([['n0', 1, 8 << 20], ['n1', 2, 16 << 20]]);
    expect(s.proclets).to.deep.include({ id: blob.id, type: 'test.Blob', kind: 'memory', node: 'n1', size: 1 << 20 });
    expect(s.nodes[1]!.proclets).to.deep.equal({ memory: 1, compute: 0 });
    expect(await cluster.nodes()).to.deep.equal(['n0', 'n1']);
  });

  it('places memory where memory is free and compute where CPUs are free', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 4, memory: '1MiB' }, { cpus: 0, memory: '64MiB' }] });
    const m = await cluster.create(CounterType, [], { size: '2MiB' });
    expect(await cluster.locate(m)).to.equal('n1');
    const c = await cluster.create(CruncherType, []);
    expect(await cluster.locate(c)).to.equal('n0');
  });

  it('fails placement beyond every node budget with MemoryBudgetError naming the sizes', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '1MiB' }, { cpus: 0, memory: '2MiB' }] });
    const e = await rejects(cluster.create(CounterType, [], { size: '3MiB' }));
    expect(e).to.be.instanceOf(MemoryBudgetError);
    expect(e.message).to.contain('3.00 MiB').and.contain('2.00 MiB');
  });

  it('fails calls to a lost node fast with NodeLostError naming node and proclet; the rest keeps working', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }] });
    const lost: NodeLostEvent[] = [];
    cluster.on('nodeLost', (e) => lost.push(e));
    const doomed = await cluster.create(CounterType, [], { node: 'n2' });
    const alive = await cluster.create(CounterType, [], { node: 'n1' });
    await doomed.call('add', 1);
    const inFlight = doomed.call('addLater', 1);
    await killInProcessNode(cluster, 'n2');
    const e = await rejects(inFlight);
    expect(e).to.be.instanceOf(NodeLostError);
    expect(e.message).to.contain('n2').and.contain(doomed.id);
    await eventually(() => lost.length === 1, 'nodeLost event');
    expect(lost[0]!.proclets).to.deep.equal([doomed.id]);
    const again = await rejects(doomed.call('add', 1));
    expect(again).to.be.instanceOf(NodeLostError);
    const fromN1 = await rejects(viewFrom(cluster, 'n1').ref(doomed.id).call('x' as never));
    expect(fromN1).to.be.instanceOf(NodeLostError);
    expect(await alive.call('add', 5)).to.equal(5);
    const s = await cluster.stats();
    expect(s.nodes.find((n) => n.id === 'n2')!.lost).to.equal(true);
    expect(s.proclets.map((p) => p.id)).to.not.include(doomed.id);
    expect(s.lostProclets).to.equal(1);
    const placed = await cluster.create(CounterType, []);
    expect(await cluster.locate(placed)).to.not.equal('n2');
  });
});

describe('controller — events go where they are listened to', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  const eventsIn = (node: string): number => viewFrom(cluster, node).runtime.counters.eventsIn;

  it('sends a topic only to the nodes with a listener for it', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n0' });
    const heard: string[] = [];
    viewFrom(cluster, 'n1').on('migration', (e) => heard.push(e.to));
    const before = [eventsIn('n0'), eventsIn('n2')];
    await cluster.migrate(ref, 'n2');
    await cluster.migrate(ref, 'n0');
    await eventually(() => heard.length === 2, 'n1 hears both migrations');
    expect(heard).to.deep.equal(['n2', 'n0']);
    await settle();
    expect([eventsIn('n0'), eventsIn('n2')]).to.deep.equal(before);
  });

  it('stops sending a topic once nobody listens, and misses nothing for a listener put back', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n0' });
    const n1 = viewFrom(cluster, 'n1');
    const n2 = viewFrom(cluster, 'n2');
    // One listener after another, each taken off by the event it hears.
    for (const to of ['n2', 'n0', 'n2']) {
      const next = new Promise<string>((resolve) => n1.once('migration', (e) => resolve(e.to)));
      await cluster.migrate(ref, to);
      expect(await next).to.equal(to);
    }
    // No listener now: the next event is the last n1 gets.
    const onN2: string[] = [];
    n2.on('migration', (e) => onN2.push(e.to));
    await cluster.migrate(ref, 'n0');
    await eventually(() => onN2.length === 1, 'n2 hears the migration');
    await n1.nodes(); // after n1's word that it no longer listens, on the same path
    const quiet = eventsIn('n1');
    await cluster.migrate(ref, 'n1');
    await eventually(() => onN2.length === 2, 'n2 hears the next migration');
    await settle();
    expect(eventsIn('n1')).to.equal(quiet);
  });

  it('still tells every node about membership, listened to or not', async () => {
    const n2 = viewFrom(cluster, 'n2');
    const ref = await n2.create(CounterType, [], { node: 'n1' });
    expect(await n2.ref<InstanceType<typeof CounterType.ctor>>(ref.id).call('add', 1)).to.equal(1);
    await killInProcessNode(cluster, 'n1');
    // n2 has no listener, yet learns of the loss: its calls fail with NodeLostError.
    await eventually(async () => (await rejects(ref.call('add', 1))) instanceof NodeLostError, 'calls to n1 fail as lost');
    const e = await rejects(n2.ref<InstanceType<typeof CounterType.ctor>>(ref.id).call('add', 1));
    expect(e).to.be.instanceOf(NodeLostError);
  });
});
