import { expect } from 'chai';
import { NodeLostError } from '@quicksand/core';
import type { Cluster, NodeLostEvent } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { localNodes } from '@quicksand/net/internal';
import { CounterType } from './fixtures/types.js';
import { eventually, rejects } from './helpers.js';

describe('node failure — kill -9 of one node mid-traffic', () => {
  let cluster: Cluster;
  afterEach(async () => {
    await cluster.close();
  });

  it('fails calls to its proclets with NodeLostError naming node and proclets; the rest keeps working', async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }], logs: 'silent' });
    const lostEvents: NodeLostEvent[] = [];
    cluster.on('nodeLost', (e) => lostEvents.push(e));
    const doomed = await cluster.create(CounterType, [], { node: 'n2' });
    const alive = await cluster.create(CounterType, [], { node: 'n1' });
    const friend = await cluster.create(CounterType, [], { node: 'n1' });
    // Traffic in flight: slow calls that will still be running when the node dies.
    const inFlight = [doomed.call('slow', 60_000), doomed.call('slow', 60_000)];
    const background = Array.from({ length: 50 }, (_, i) => alive.call('add', i));
    const victim = localNodes(cluster).find((n) => n.id === 'n2')!;
    victim.process.kill('SIGKILL');
    for (const p of inFlight) {
      const e = await rejects(p);
      expect(e).to.be.instanceOf(NodeLostError);
      expect(e.message).to.contain('n2').and.contain(doomed.id);
    }
    await Promise.all(background);
    await eventually(() => lostEvents.length === 1, 'nodeLost event');
    expect(lostEvents[0]).to.include({ node: 'n2' });
    expect(lostEvents[0]!.proclets).to.include(doomed.id);
    const later = await rejects(doomed.call('add', 1));
    expect(later).to.be.instanceOf(NodeLostError);
    // Proclets on other nodes reaching the lost one also fail fast.
    const viaFriend = await rejects(friend.call('callOther', doomed, 1));
    expect(viaFriend).to.be.instanceOf(NodeLostError);
    expect(await alive.call('add', 0)).to.equal((49 * 50) / 2);
    const stats = await cluster.stats();
    expect(stats.nodes.find((n) => n.id === 'n2')!.lost).to.equal(true);
    expect(stats.proclets.map((p) => p.id)).to.not.include(doomed.id);
    const placed = await cluster.create(CounterType, []);
    expect(await cluster.locate(placed)).to.not.equal('n2');
  });

  it('does not take a client\'s own busy event loop for silent nodes (nor do the nodes drop the client)', async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }], logs: 'silent', heartbeatMs: 50, peerTimeoutMs: 300 });
    const lost: NodeLostEvent[] = [];
    cluster.on('nodeLost', (e) => lost.push(e));
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    await ref.call('add', 1);
    // Three times the peer timeout without reading a socket: the heartbeat timer fires
    // first when the loop frees up, before the nodes' pongs are read.
    const until = Date.now() + 900;
    while (Date.now() < until) {
      // busy
    }
    // Without the rule, the late heartbeat would cut the connection before this call's
    // answer is read, and the call would fail with NodeLostError.
    expect(await ref.call('add', 1)).to.equal(2);
    expect(lost).to.deep.equal([]);
  });

  it('notices a node that stops answering (heartbeats) without its connections closing', async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }], logs: 'silent', heartbeatMs: 50, peerTimeoutMs: 300 });
    const doomed = await cluster.create(CounterType, [], { node: 'n1' });
    await doomed.call('add', 1);
    const victim = localNodes(cluster).find((n) => n.id === 'n1')!;
    victim.process.kill('SIGSTOP'); // frozen: sockets stay open, nothing answers
    try {
      const e = await rejects(doomed.call('add', 1));
      expect(e).to.be.instanceOf(NodeLostError);
      expect(e.message).to.contain('n1');
    } finally {
      victim.process.kill('SIGKILL');
    }
  });
});
