import { expect } from 'chai';
import { Cluster } from '@quicksand/core';
import { bindName, killInProcessNode, lookupName, unbindName, viewFrom } from '@quicksand/core/internal';
import { CounterType } from './fixtures/types.js';
import { eventually } from './helpers.js';

describe('controller — name directory', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('binds a name first-wins and resolves it from every node', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }] });
    const a = await cluster.create(CounterType, []);
    const b = await cluster.create(CounterType, []);
    expect(await bindName(cluster, 'things', a)).to.equal(a.id);
    expect(await bindName(viewFrom(cluster, 'n1'), 'things', b)).to.equal(a.id);
    expect(await lookupName(viewFrom(cluster, 'n1'), 'things')).to.equal(a.id);
    expect(await lookupName(cluster, 'nothing')).to.equal(null);
    expect(await unbindName(cluster, 'things', b)).to.equal(false);
    expect(await unbindName(cluster, 'things', a)).to.equal(true);
    expect(await bindName(cluster, 'things', b)).to.equal(b.id);
  });

  it('drops a binding when its proclet is destroyed or lost with its node', async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }] });
    const a = await cluster.create(CounterType, [], { node: 'n0' });
    const b = await cluster.create(CounterType, [], { node: 'n1' });
    await bindName(cluster, 'a', a);
    await bindName(cluster, 'b', b);
    await cluster.destroy(a);
    expect(await lookupName(cluster, 'a')).to.equal(null);
    await killInProcessNode(cluster, 'n1');
    await eventually(async () => (await lookupName(cluster, 'b')) === null, 'the binding of a proclet on a lost node is dropped');
  });
});
