import { expect } from 'chai';
import { Cluster, MemoryBudgetError, NodeLostError } from '@quicksand/core';
import type { NodeLostEvent } from '@quicksand/core';
import { killInProcessNode, viewFrom } from '@quicksand/core/internal';
import { BlobType, CounterType, CruncherType } from './fixtures/types.js';
import { eventually, rejects } from './helpers.js';

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
