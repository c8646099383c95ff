import { expect } from 'chai';
import { CodecError, MemoryBudgetError, NoSuchMethodError } from '@quicksand/core';
import type { Cluster, MigrationEvent } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { localNodes } from '@quicksand/net/internal';
import { BlobType, CallerType, CounterType } from './fixtures/types.js';
import { eventually, rejects, rng } from './helpers.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('LocalCluster — three node processes on loopback', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '4MiB' }], logs: 'silent' });
  });
  after(async () => {
    await cluster.close();
  });

  it('creates proclets on each node and calls them from this process', async () => {
    for (const node of ['n0', 'n1', 'n2']) {
      const ref = await cluster.create(CounterType, [], { node });
      expect(await ref.call('where')).to.equal(node);
      expect(await ref.call('add', 2)).to.equal(2);
    }
    expect((await cluster.nodes()).sort()).to.deep.equal(['n0', 'n1', 'n2']);
  });

  it('lets proclets on different processes call each other', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n1' });
    const b = await cluster.create(CounterType, [], { node: 'n2' });
    expect(await a.call('callOther', b, 5)).to.equal(5);
    expect(await b.call('callOther', a, 6)).to.equal(6);
  });

  it('carries errors across processes as the same class, naming the node', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n2' });
    const e = await rejects(a.call('fail', 'bad input'));
    expect(e).to.be.instanceOf(RangeError);
    expect(e.message).to.contain('bad input').and.contain('node n2');
    expect(await rejects(a.call('nope' as never))).to.be.instanceOf(NoSuchMethodError);
  });

  it('carries large typed arrays both ways', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n1' });
    const big = new Float64Array(100_000).map((_, i) => i * 0.5);
    const back = (await a.call('echo', { big, small: new Uint8Array([1, 2, 3]) })) as { big: Float64Array; small: Uint8Array };
    expect(back.big).to.be.instanceOf(Float64Array);
    expect(back.big[99_999]).to.equal(99_999 * 0.5);
    expect(Array.from(back.small)).to.deep.equal([1, 2, 3]);
  });

  it('carries messages of every WebSocket length form, client to node and node to node', async () => {
    // The transport writes frames up to 16 KiB itself (7-bit and 16-bit lengths, masked
    // when it dialed) and leaves larger ones to ws: sizes on each side of each boundary.
    const a = await cluster.create(CounterType, [], { node: 'n1' });
    const b = await cluster.create(CounterType, [], { node: 'n2' });
    for (const n of [0, 1, 90, 110, 125, 126, 127, 200, 1000, 16_300, 16_400, 65_535, 65_536, 70_000]) {
      const s = 'x'.repeat(n);
      expect(await a.call('echo', s)).to.equal(s);
      expect(await a.call('callOther', b, n)).to.equal(await b.call('add', 0));
    }
    // Many small calls in flight at once: frames written back to back on one socket.
    const replies = await Promise.all(Array.from({ length: 2000 }, (_, i) => a.call('echo', i % 7 === 0 ? 'y'.repeat(i) : i)));
    replies.forEach((r, i) => expect(r).to.equal(i % 7 === 0 ? 'y'.repeat(i) : i));
  });

  it('migrates state between processes and emits the event here', async () => {
    const seen: MigrationEvent[] = [];
    const on = (e: MigrationEvent): void => {
      seen.push(e);
    };
    cluster.on('migration', on);
    try {
      const blob = await cluster.create(BlobType, [2 * 1024 * 1024], { node: 'n0' });
      const sum = await blob.call('checksum');
      const ev = await cluster.migrate(blob, 'n1');
      expect(ev.bytes).to.be.greaterThan(2 * 1024 * 1024);
      expect(await blob.call('checksum')).to.equal(sum);
      await cluster.migrate(blob, 'n0');
      expect(await blob.call('checksum')).to.equal(sum);
      await eventually(() => seen.filter((e) => e.proclet === blob.id).length === 2, 'two migration events');
    } finally {
      cluster.off('migration', on);
    }
  });

  it('refuses a migration to a node without room, and the proclet keeps serving where it was', async () => {
    const blob = await cluster.create(BlobType, [6 * 1024 * 1024], { node: 'n1' });
    await cluster.migrate(blob, 'n0'); // measures its size
    const e = await rejects(cluster.migrate(blob, 'n2'));
    expect(e).to.be.instanceOf(MemoryBudgetError);
    expect(await cluster.locate(blob)).to.equal('n0');
    expect(await blob.call('length')).to.equal(6 * 1024 * 1024);
  });

  for (const seed of [11, 12, 13]) {
    it(`runs every call exactly once while proclets migrate under concurrent calls from every node (seed ${seed})`, async () => {
      const rand = rng(seed);
      const nodes = ['n0', 'n1', 'n2'];
      const targets = await Promise.all([0, 1, 2].map((i) => cluster.create(CounterType, [], { node: nodes[i]! })));
      const callers = await Promise.all(nodes.map((node) => cluster.create(CallerType, [], { node })));
      const model = new Map<string, string[]>(targets.map((t) => [t.id, []]));
      let moves = 0;
      const work: Array<Promise<unknown>> = [];
      for (let wave = 0; wave < 15; wave++) {
        // Every wave races two migrations (n2 is small: keep to n0/n1).
        const migrations = [0, 1].map(() => cluster.migrate(targets[Math.floor(rand() * targets.length)]!, nodes[Math.floor(rand() * 2)]!).then(() => moves++));
        for (const [ci, caller] of callers.entries()) {
          const batch: Array<[string, string, boolean]> = [];
          for (let k = 0; k < 20; k++) {
            const t = targets[Math.floor(rand() * targets.length)]!;
            const tag = `c${ci}:${wave}:${k}`;
            model.get(t.id)!.push(tag);
            batch.push([t.id, tag, rand() < 0.5]);
          }
          work.push(caller.call('fire', batch).then((n) => expect(n).to.equal(20)));
        }
        for (let k = 0; k < 10; k++) {
          const t = targets[Math.floor(rand() * targets.length)]!;
          const tag = `here:${wave}:${k}`;
          model.get(t.id)!.push(tag);
          work.push(t.call('record', tag));
        }
        await Promise.all(migrations);
      }
      await Promise.all(work);
      expect(moves).to.equal(30);
      for (const t of targets) {
        const log = await t.call('getLog');
        expect([...log].sort()).to.deep.equal([...model.get(t.id)!].sort());
      }
    });
  }
});

describe('LocalCluster — lifecycle', () => {
  it('leaves no node process behind after close', async () => {
    const cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '8MiB' }, { cpus: 0, memory: '8MiB' }], logs: 'silent' });
    const pids = localNodes(cluster).map((n) => n.process.pid!);
    expect(pids.every(alive)).to.equal(true);
    await cluster.close();
    expect(pids.some(alive)).to.equal(false);
  });

  it('rejects bad options naming the option', async () => {
    await rejects(LocalCluster.start({ nodes: [] })).then((e) => expect(e.message).to.contain('options.nodes'));
    await rejects(LocalCluster.start({ nodes: [{ cpus: 1.5, memory: '1MiB' }] })).then((e) => expect(e.message).to.contain('options.nodes[0].cpus'));
    await rejects(LocalCluster.start({ nodes: [{ cpus: 1, memory: '1MiB' }], heartbeatMs: -5 })).then((e) => expect(e.message).to.contain('options.heartbeatMs'));
  });
});

describe('LocalCluster — the frame size limit', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 0, memory: '16MiB' }, { cpus: 0, memory: '16MiB' }], logs: 'silent', maxFrameBytes: '64KiB' });
  });
  after(async () => {
    await cluster.close();
  });

  it('fails a call whose arguments are over the limit with CodecError, and only that call', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const first = ref.call('add', 1);
    const big = ref.call('echo', 'x'.repeat(100 * 1024));
    const after = ref.call('add', 1);
    const e = await rejects(big);
    expect(e).to.be.instanceOf(CodecError);
    expect(e.message).to.contain('to node n1').and.contain('over the frame limit of 64.0 KiB').and.contain('raise maxFrameBytes');
    expect([await first, await after]).to.deep.equal([1, 2]);
  });

  it('sends a run of calls that is over the limit only together call by call, and answers all of them', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    // One tick: ten calls of 10 KiB each travel as one run, 100 KiB in all.
    const echoes = Array.from({ length: 10 }, (_, i) => ref.call('echo', String(i).repeat(10 * 1024)));
    const out = (await Promise.all(echoes)) as string[];
    expect(out.map((s) => [s.length, s[0]])).to.deep.equal(Array.from({ length: 10 }, (_, i) => [10 * 1024, String(i)]));
  });

  it('answers a result over the limit with CodecError, naming the limit', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    // Two arguments that fit, then a result (the log of both) that does not.
    await ref.call('record', 'y'.repeat(40 * 1024));
    await ref.call('record', 'z'.repeat(40 * 1024));
    const e = await rejects(ref.call('getLog'));
    expect(e).to.be.instanceOf(CodecError);
    expect(e.message).to.contain('over the frame limit of 64.0 KiB');
    expect(await ref.call('add', 5)).to.equal(5);
  });
});
