/**
 * Kernel benchmark: the cost of a call through a Ref, locally and across nodes, and of
 * migrating a proclet, all in one process (in-process transport, v8 codec).
 *
 * Measured: `plainAsyncCallNs` (await of a trivial async method on a plain object, the
 * baseline), `localCallNs` (the same method, same class, through a Ref whose proclet is on
 * the caller's node), `localSuspendingCallNs` (a method that awaits, so the runtime tracks
 * it for migration), `crossNodeCallUs` (a call to a proclet on another in-process node:
 * encode, deliver on a later event-loop turn, decode, run, and back), and `migrateXMs`
 * (wall time of `cluster.migrate` as the caller sees it, for a proclet holding X bytes,
 * with `blockingXMs` the window during which its calls queue).
 * Not measured: real sockets (see the `net` benchmark).
 * Rounds of each kind are interleaved; figures are medians over rounds.
 */
import { Cluster } from '@quicksand/core';
import { flags, median, nowNs, report, tick } from './harness.js';
import type { Row } from './harness.js';
import { BlobType, CounterType } from './types.js';

const f = flags();

class Plain {
  n = 0;
  async inc(x: number): Promise<number> {
    this.n += x;
    return this.n;
  }
}

const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '1GiB' }, { cpus: 1, memory: '1GiB' }] });
try {
  const plain = new Plain();
  const local = await cluster.create(CounterType, [], { node: cluster.nodeId });
  const remote = await cluster.create(CounterType, [], { node: 'n1' });

  const N = f.quick ? 100_000 : 200_000;
  const rounds = f.quick ? 15 : 41;
  const P: number[] = [];
  const L: number[] = [];
  const S: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = nowNs();
    for (let i = 0; i < N; i++) await plain.inc(1);
    P.push((nowNs() - t) / N);
    t = nowNs();
    for (let i = 0; i < N; i++) await local.call('inc', 1);
    L.push((nowNs() - t) / N);
    await tick();
  }
  // Separate phase, so the baseline pair above runs the same call sites throughout.
  for (let r = 0; r < rounds; r++) {
    const t = nowNs();
    for (let i = 0; i < N; i++) await local.call('incAfterAwait', 1);
    S.push((nowNs() - t) / N);
    await tick();
  }

  const C: number[] = [];
  const callsPerRound = 200;
  for (let r = 0; r < (f.quick ? 15 : 41); r++) {
    const t = nowNs();
    for (let i = 0; i < callsPerRound; i++) await remote.call('inc', 1);
    C.push((nowNs() - t) / callsPerRound / 1000);
  }

  const migrate = async (bytes: number, times: number): Promise<{ ms: number; blocking: number }> => {
    const blob = await cluster.create(BlobType, [bytes], { node: 'n0' });
    const ms: number[] = [];
    const blocking: number[] = [];
    for (let i = 0; i < times; i++) {
      const to = i % 2 === 0 ? 'n1' : 'n0';
      const t = nowNs();
      const ev = await cluster.migrate(blob, to);
      ms.push((nowNs() - t) / 1e6);
      blocking.push(ev.blockingMs);
      if ((await blob.call('length')) !== bytes) throw new Error('state lost in migration');
    }
    await cluster.destroy(blob);
    return { ms: median(ms), blocking: median(blocking) };
  };
  const m64 = await migrate(64 * 1024, f.quick ? 20 : 60);
  const m1 = await migrate(1024 * 1024, f.quick ? 20 : 40);
  const m10 = await migrate(10 * 1024 * 1024, f.quick ? 6 : 15);

  const plainNs = median(P);
  const localNs = median(L);
  const rows: Row[] = [
    { key: 'plainAsyncCallNs', value: plainNs, note: 'baseline: await of a trivial async method on a plain object' },
    { key: 'localCallNs', value: localNs, note: 'the same method through a local Ref' },
    { key: 'localCallRatio', value: localNs / plainNs, note: 'bar: <= 1.5' },
    { key: 'localSuspendingCallNs', value: median(S), note: 'a method that awaits (tracked for migration)' },
    { key: 'crossNodeCallUs', value: median(C), note: 'in-process transport, v8 codec, sequential' },
    { key: 'migrate64KiBMs', value: m64.ms },
    { key: 'migrate1MiBMs', value: m1.ms, note: 'bar: <= 5' },
    { key: 'migrate10MiBMs', value: m10.ms },
    { key: 'blocking64KiBMs', value: m64.blocking, note: 'calls queue for this long' },
    { key: 'blocking1MiBMs', value: m1.blocking },
    { key: 'blocking10MiBMs', value: m10.blocking },
  ];
  report('kernel', rows, f);
} finally {
  await cluster.close();
}
