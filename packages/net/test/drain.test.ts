import { expect } from 'chai';
import type { Cluster, DrainResult } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { localNodes } from '@quicksand/net/internal';
import { BlobType, CounterType } from './fixtures/types.js';
import { eventually } from './helpers.js';

describe('draining — SIGTERM of a node process moves everything away first', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('loses nothing: state moves to the other nodes, calls racing the drain follow it, the node exits 0', async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }], logs: 'silent' });
    const drained: DrainResult[] = [];
    cluster.on('drained', (e) => drained.push(e));
    const counters = await Promise.all(Array.from({ length: 8 }, () => cluster.create(CounterType, [], { node: 'n2' })));
    const blob = await cluster.create(BlobType, [3 * 1024 * 1024], { node: 'n2' });
    const sum = await blob.call('checksum');
    for (const c of counters) await c.call('add', 10);
    const victim = localNodes(cluster).find((n) => n.id === 'n2')!;
    const exited = new Promise<number | null>((resolve) => victim.process.once('exit', (code) => resolve(code)));
    const racing: Array<Promise<number>> = [];
    for (let i = 0; i < 20; i++) for (const c of counters) racing.push(c.call('add', 1));
    victim.process.kill('SIGTERM');
    for (let i = 0; i < 20; i++) for (const c of counters) racing.push(c.call('add', 1));
    await Promise.all(racing);
    expect(await exited, victim.logs.join('\n')).to.equal(0);
    for (const c of counters) {
      expect(await c.call('add', 0)).to.equal(50);
      expect(await c.call('where')).to.not.equal('n2');
    }
    expect(await blob.call('checksum')).to.equal(sum);
    await eventually(() => drained.length === 1, 'drained event');
    expect(drained[0]).to.include({ node: 'n2', moved: 9 });
    const stats = await cluster.stats();
    expect(stats.lostProclets).to.equal(0);
    expect(stats.proclets.some((p) => p.node === 'n2')).to.equal(false);
  });
});
