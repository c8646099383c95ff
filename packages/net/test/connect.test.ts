import { expect } from 'chai';
import { ClosedError } from '@quicksand/core';
import type { Cluster, MigrationEvent } from '@quicksand/core';
import { LocalCluster, connect, startNode } from '@quicksand/net';
import type { QuicksandNode } from '@quicksand/net';
import { localNodes, localSecret } from '@quicksand/net/internal';
import { CounterType } from './fixtures/types.js';
import { eventually, rejects } from './helpers.js';

describe('connect — a client for a cluster that is already running', () => {
  let cluster: Cluster;
  let url0: string;
  let url1: string;
  let secret: string;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }], logs: 'silent' });
    [url0, url1] = localNodes(cluster).map((n) => n.url) as [string, string];
    secret = localSecret(cluster);
  });
  after(async () => {
    await cluster.close();
  });

  it('joins through a node that is not the controller, reaches every node, and leaves the cluster up on close', async () => {
    const client = await connect(url1, { secret });
    try {
      expect((await client.nodes()).sort()).to.deep.equal(['n0', 'n1']);
      for (const node of ['n0', 'n1']) {
        const ref = await client.create(CounterType, [], { node });
        expect(await ref.call('where')).to.equal(node);
        expect(await ref.call('add', 2)).to.equal(2);
        // The same proclet, from the other client.
        expect(await cluster.ref<InstanceType<typeof CounterType.ctor>>(ref.id).call('add', 1)).to.equal(3);
      }
    } finally {
      await client.close();
    }
    const e = await rejects(client.nodes());
    expect(e).to.be.instanceOf(ClosedError);
    // The nodes kept running, and forgot the client.
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    expect(await ref.call('add', 5)).to.equal(5);
  });

  it('hears the events it listens to', async () => {
    const client = await connect(url0, { secret });
    try {
      const seen: MigrationEvent[] = [];
      client.on('migration', (ev) => seen.push(ev));
      await client.nodes(); // the subscription went ahead of this call
      const ref = await cluster.create(CounterType, [], { node: 'n0' });
      await cluster.migrate(ref, 'n1');
      await eventually(() => seen.some((ev) => ev.proclet === ref.id), 'the client hears the migration');
      expect(seen.find((ev) => ev.proclet === ref.id)).to.include({ from: 'n0', to: 'n1' });
    } finally {
      await client.close();
    }
  });

  it('learns of a node that joins after it connected, and calls proclets there', async () => {
    const client = await connect(url0, { secret });
    let node: QuicksandNode | null = null;
    try {
      node = await startNode({ listen: '127.0.0.1:0', cpus: 0, memory: '16MiB', join: url1, secret, id: 'n-late', log: () => undefined });
      await eventually(async () => (await client.nodes()).includes('n-late'), 'the controller lists the new node');
      const ref = await client.create(CounterType, [], { node: 'n-late' });
      expect(await ref.call('where')).to.equal('n-late');
      expect(await ref.call('add', 7)).to.equal(7);
      await client.destroy(ref);
    } finally {
      await client.close();
      await node?.close();
    }
  });

  it('refuses a wrong secret, an unreachable address and bad options with errors that say which', async () => {
    const wrong = await rejects(connect(url0, { secret: 'not-the-secret-of-this-cluster', log: () => undefined }));
    expect(wrong.message).to.include(url0).and.to.include('secret');
    const nobody = await rejects(connect('ws://127.0.0.1:1', { secret, log: () => undefined }));
    expect(nobody.message).to.include('could not connect to the cluster at ws://127.0.0.1:1');
    expect(await rejects(connect('http://127.0.0.1:1', { secret }))).to.be.instanceOf(TypeError);
    expect(await rejects(connect(url0, { secret: 'short' }))).to.be.instanceOf(RangeError);
    expect(await rejects(connect(url0, {} as { secret: string }))).to.be.instanceOf(TypeError);
    // The cluster is unharmed.
    expect((await cluster.nodes()).sort()).to.deep.equal(['n0', 'n1']);
  });
});

describe('startNode — the address a node advertises', () => {
  const secret = 'c'.repeat(32);
  const started: QuicksandNode[] = [];
  afterEach(async () => {
    for (const n of started.splice(0).reverse()) await n.close();
  });

  it('listens on every interface and tells its peers the advertised host, where they reach it', async () => {
    const logs: string[] = [];
    const a = await startNode({ listen: '0.0.0.0:0', advertise: '127.0.0.1', cpus: 0, memory: '16MiB', secret, id: 'adv-a', log: (l) => logs.push(l) });
    started.push(a);
    expect(a.url).to.match(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const b = await startNode({ listen: '0.0.0.0:0', advertise: '127.0.0.1', cpus: 0, memory: '16MiB', secret, id: 'adv-b', join: a.url, log: (l) => logs.push(l) });
    started.push(b);
    // Each node dials the other at the address it advertised.
    const onB = await a.cluster.create(CounterType, [], { node: 'adv-b' });
    expect(await onB.call('add', 2)).to.equal(2);
    const onA = await b.cluster.create(CounterType, [], { node: 'adv-a' });
    expect(await onA.call('where')).to.equal('adv-a');
    expect(logs.filter((l) => l.includes('only this machine can dial'))).to.deep.equal([]);
  });

  it('warns when it listens on every interface with nothing to advertise, and refuses a bad address', async () => {
    const logs: string[] = [];
    const a = await startNode({ listen: '0.0.0.0:0', cpus: 0, memory: '16MiB', secret, id: 'adv-c', log: (l) => logs.push(l) });
    started.push(a);
    expect(logs.some((l) => l.includes('pass --advertise HOST'))).to.equal(true);
    for (const advertise of ['host:0', 'a b', 'host:x', '']) {
      const e = await rejects(startNode({ listen: '127.0.0.1:0', advertise, cpus: 0, memory: '16MiB', secret, log: () => undefined }));
      expect(e, advertise).to.be.instanceOf(RangeError);
    }
  });
});
