/**
 * Net benchmark: Quicksand calls and migrations between real processes on loopback, next
 * to the floors measured in the same run between this process and a plain `net` echo
 * process (`raw-echo.ts`: length-prefixed msgpackr frames, no runtime).
 *
 * Measured:
 * - `rawTcpRttUs`: p50 round trip of one small msgpackr request/reply over plain TCP.
 * - `remoteCallP50Us` / `remoteCallP99Us`: a sequential `ref.call('add', 1)` from this
 *   process (a LocalCluster client) to a proclet on a node process; `remoteCallRatio` =
 *   p50 over the floor.
 *
 *   Both are measured with the two ends of each pair placed alike, because where the
 *   kernel runs them decides a round trip's cost more than anything either end does. On
 *   the 2-core VM (kernel 6.18) two processes that take turns on one core answer each
 *   other in ~25 µs, on two cores in ~100 µs (the woken core has to leave its idle
 *   state), and left alone the kernel settles a pair in one or the other and keeps it
 *   there: the floor's pair mostly on one core and ours on two, run after run, a ratio of
 *   3-4 that compared placements, not code. So where threads can be pinned (Linux,
 *   `taskset`, two cores) latency is measured on one core (this process, the echo process
 *   and node n1, every thread, on the first core) and on two (this process on the first,
 *   the echo process and n1 on the second): `remoteCallRatio` is the higher of the two
 *   ratios, the figures without a suffix are the one-core ones, and `...TwoCores` the
 *   others. The same pairs left to the kernel are reported too (`...UnpinnedUs`), not
 *   compared. Without pinning, only that runs, and the ratio compares it.
 *
 *   On one core, a pair's round trip also depends on where its two processes' code and
 *   data happen to lie in their address spaces (drawn at random per process), by 10-15%
 *   for the floor's pair and ours alike: with address randomization off (`setarch -R`, a
 *   fixed V8 seed) ours read 15.0-16.0 µs and the floor 13.5-14.1 in 8 of 8 runs; with it
 *   on, each side of a run's single pair landed now and then on its slow draw (ours 17.4,
 *   the floor 15.3), which moved the ratio between 0.94 and 1.31. So the one-core figures
 *   are the medians over LATENCY_PAIRS pairs: the run's own servers and fresh ones (a new
 *   echo process, a new cluster), each pair's floor and ours alternated as above, and the
 *   ratio is the median of the pairs' ratios.
 * - `rawTcpBatchedOpsPerSec`: the floor for pipelined small requests, 100 per frame, 10
 *   frames in flight; `pipelinedOpsPerSec`: small remote calls with 1,000 in flight (the
 *   runtime batches them per tick); `pipelinedRatio` = ours over the floor.
 * - `rawTransfer10MiBMs`: 10 MiB of bytes to the echo process and its acknowledgement.
 * - `migrate64KiBMs` / `migrate10MiBMs`: `cluster.migrate` of a proclet holding that many
 *   bytes between two node processes, as the caller sees it (controller on n0, source and
 *   target n0/n1); `migrate10MiBRatio` = over the raw transfer; `blockingWindow64KiBMs`:
 *   how long calls to the proclet queue during the move. The proclet's type declares its
 *   state its own (`transferState`), so the source frees it at once;
 *   `migrate10MiBDefaultMs` is the same move for a type that does not. The 10 MiB state
 *   travels on the bulk lane (`@quicksand/net`'s README); the 64 KiB one on the WebSocket.
 * Floor and ours are measured in alternating rounds in one run (latency in blocks of 500
 * round trips, throughput run by run, transfers one by one), so a change in the shared
 * machine's load moves both alike.
 * Not measured: multi-machine networks (loopback only).
 */
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Packr, Unpackr } from 'msgpackr';
import { LocalCluster } from '@quicksand/net';
import type { Cluster, Ref } from '@quicksand/core';
import { pinProcess, pinnableCores } from '@quicksand/core/internal';
import { NODE_MALLOC, localNodes } from '@quicksand/net/internal';
import { flags, median, nowNs, percentile, report } from './harness.js';
import { readFrames, writeFrame } from './raw-echo.js';
import { BlobType, CounterType, OwnedBlobType } from './types.js';
import type { Counter } from './types.js';

const f = flags();
/** Sequential round trips before measuring latency, for the floor and for ours alike. */
const WARMUP = 10_000;
/** Untimed transfers (floor) and migrations (ours) before timing them; even, so ours starts on n0. */
const TRANSFER_WARMUP = 4;
/** Untimed 64 KiB migrations first: the migration path's code is cold (JIT) until then. */
const SMALL_MIGRATION_WARMUP = 20;
/** Process pairs the one-core latency is measured on (see the header). */
const LATENCY_PAIRS = 3;
/**
 * Pipelined operations before measuring throughput, for the floor and for ours alike, in
 * untimed rounds that alternate like the measured ones. Ours sends 256 calls per frame
 * where the floor sends 100 requests, so the code that runs once per frame (ours, ws's,
 * Node's streams') runs 2.5 times less often per operation, and V8 optimizes it later: with
 * 600,000 the first measured round of ours still ran partly unoptimized (2.3-2.7 M calls/s
 * against 3.5-4.5 M in the four rounds after it, about 70 functions compiled during the
 * warm-up and that round), while the floor's first round ran at its full rate.
 */
const PIPELINE_WARMUP = 1_600_000;

/** Sequential round trips in one placement, in microseconds: the floor's and ours. */
interface Latency {
  floor: number[];
  ours: number[];
}

/** The floor: a plain `net` echo process and the requests the benchmark times against it. */
interface Floor {
  /** The echo process. */
  pid: number;
  /** One small request/reply round trip, in microseconds. */
  roundTrip(i: number): Promise<number>;
  /** Pipelined requests, 100 per frame, 10 frames in flight; ops/s. */
  pipeline(total: number): Promise<number>;
  /** 10 MiB of bytes and an acknowledgement, in milliseconds. */
  transfer(): Promise<number>;
  close(): void;
}

async function startFloor(): Promise<Floor> {
  // The same malloc settings LocalCluster gives its nodes (see @quicksand/net's README).
  const env = { ...NODE_MALLOC, ...process.env };
  const child = fork(fileURLToPath(new URL('./raw-echo.js', import.meta.url)), ['serve'], { stdio: 'inherit', env });
  const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const OPTIONS = { useRecords: true, mapsAsObjects: true, moreTypes: true } as const;
  const packr = new Packr(OPTIONS);
  const unpackr = new Unpackr(OPTIONS);
  let onReply: (kind: number, body: Buffer) => void = () => undefined;
  readFrames(socket, (kind, body) => onReply(kind, body));
  const exchange = (kind: number, body: Uint8Array): Promise<Buffer> =>
    new Promise((resolve) => {
      onReply = (_k, b) => resolve(b);
      writeFrame(socket, kind, body);
    });
  const payload = new Uint8Array(10 * 1024 * 1024).fill(1);
  return {
    pid: child.pid!,
    async roundTrip(i) {
      const t = nowNs();
      unpackr.unpack(await exchange(1, packr.pack([[1, i, 'p1', 'add', [1]]])));
      return (nowNs() - t) / 1000;
    },
    async pipeline(total) {
      let done = 0;
      let sentOps = 0;
      const t0 = nowNs();
      await new Promise<void>((resolve) => {
        const send = (): void => {
          const batch: unknown[] = [];
          for (let k = 0; k < 100; k++) batch.push([1, sentOps++, 'p1', 'add', [1]]);
          writeFrame(socket, 1, packr.pack(batch));
        };
        onReply = (_k, body) => {
          done += (unpackr.unpack(body) as unknown[]).length;
          if (done >= total) resolve();
          else if (sentOps < total) send();
        };
        for (let k = 0; k < 10; k++) send();
      });
      return done / ((nowNs() - t0) / 1e9);
    },
    async transfer() {
      const t = nowNs();
      await exchange(2, payload);
      return (nowNs() - t) / 1e6;
    },
    close() {
      socket.destroy();
      child.kill();
    },
  };
}

/**
 * The servers of one floor pair and one of ours, warmed up (JIT) alike: an echo process,
 * and a cluster whose node n1 holds a counter.
 */
interface Servers {
  floor: Floor;
  cluster: Cluster;
  counter: Ref<Counter>;
  /** n1's process. */
  n1: number;
  close(): Promise<void>;
}

async function startServers(): Promise<Servers> {
  const floor = await startFloor();
  let cluster: Cluster;
  try {
    cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '1GiB' }, { cpus: 1, memory: '1GiB' }], logs: 'silent' });
  } catch (e) {
    floor.close();
    throw e;
  }
  const close = async (): Promise<void> => {
    await cluster.close();
    floor.close();
  };
  try {
    const counter = await cluster.create(CounterType, [], { node: 'n1' });
    for (let i = 0; i < WARMUP; i++) {
      await floor.roundTrip(i);
      await counter.call('add', 1);
    }
    return { floor, cluster, counter, n1: localNodes(cluster).find((n) => n.id === 'n1')!.process.pid!, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Pins this process (the clients) to `client`, and both servers, every thread, to `server`. */
function place(s: Servers, client: string, server: string): void {
  pinProcess(client);
  pinProcess(server, s.floor.pid);
  pinProcess(server, s.n1);
}

/** Sequential round trips to both servers, alternating in blocks. */
async function latency(s: Servers): Promise<Latency> {
  const floorRtt: number[] = [];
  const ours: number[] = [];
  const ROUND = 500;
  for (let r = 0; r < (f.quick ? 6 : 20); r++) {
    for (let i = 0; i < ROUND; i++) floorRtt.push(await s.floor.roundTrip(i));
    for (let i = 0; i < ROUND; i++) {
      const t = nowNs();
      await s.counter.call('add', 1);
      ours.push((nowNs() - t) / 1000);
    }
  }
  return { floor: floorRtt, ours };
}

// Floor and ours alternate, round by round, so a change in the machine's load between
// phases (this is a shared VM) shifts both sides alike.
const servers = await startServers();
const { floor, cluster, counter } = servers;
try {
  const unpinned = await latency(servers);
  // The same placement for the floor's pair and ours (see the header); then every thread
  // back on every core for the rest.
  const cores = pinnableCores();
  const onePairs: Latency[] = [unpinned];
  let twoCores: Latency | null = null;
  if (cores !== null && cores.length >= 2) {
    const [one, two, all] = [String(cores[0]), String(cores[1]), cores.join(',')];
    place(servers, one, one);
    onePairs[0] = await latency(servers);
    place(servers, one, two);
    twoCores = await latency(servers);
    place(servers, all, all);
    // More pairs on one core, with fresh servers each (see the header).
    for (let k = 1; k < LATENCY_PAIRS; k++) {
      const fresh = await startServers();
      try {
        place(fresh, one, one);
        onePairs.push(await latency(fresh));
      } finally {
        await fresh.close();
      }
    }
    pinProcess(all);
  }

  const inFlight = 1000;
  const pipeline = async (total: number): Promise<number> => {
    let started = 0;
    let finished = 0;
    const t0 = nowNs();
    await new Promise<void>((resolve, reject) => {
      const next = (): void => {
        if (started >= total) return;
        started++;
        counter.call('add', 1).then(() => {
          if (++finished === total) resolve();
          else next();
        }, reject);
      };
      for (let k = 0; k < inFlight; k++) next();
    });
    return finished / ((nowNs() - t0) / 1e9);
  };
  const round = f.quick ? 200_000 : 400_000;
  for (let done = 0; done < PIPELINE_WARMUP; done += round) {
    await floor.pipeline(round);
    await pipeline(round);
  }
  const floorRuns: number[] = [];
  const runs: number[] = [];
  for (let r = 0; r < (f.quick ? 3 : 5); r++) {
    floorRuns.push(await floor.pipeline(round));
    runs.push(await pipeline(round));
  }
  const pipelined = median(runs);
  const floorBatched = median(floorRuns);

  const migrate = async (bytes: number, times: number, withFloor: boolean, type = OwnedBlobType): Promise<{ ms: number; blocking: number; floor: number }> => {
    const blob = await cluster.create(type, [bytes], { node: 'n0' });
    // The same warm-up for both: the first transfers on a connection are slower (TCP windows, heap).
    for (let i = 0; i < (withFloor ? TRANSFER_WARMUP : SMALL_MIGRATION_WARMUP); i++) {
      if (withFloor) await floor.transfer();
      await cluster.migrate(blob, i % 2 === 0 ? 'n1' : 'n0');
    }
    const ms: number[] = [];
    const blocking: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < times; i++) {
      if (withFloor) floorMs.push(await floor.transfer());
      const t = nowNs();
      const ev = await cluster.migrate(blob, i % 2 === 0 ? 'n1' : 'n0');
      ms.push((nowNs() - t) / 1e6);
      blocking.push(ev.blockingMs);
    }
    if ((await blob.call('length')) !== bytes) throw new Error('state lost in migration');
    await cluster.destroy(blob);
    return { ms: median(ms), blocking: median(blocking), floor: median(floorMs) };
  };
  const m64 = await migrate(64 * 1024, f.quick ? 40 : 100, false);
  const m10 = await migrate(10 * 1024 * 1024, f.quick ? 10 : 24, true);
  const m10Default = await migrate(10 * 1024 * 1024, f.quick ? 10 : 24, true, BlobType);

  const ratioOf = (l: Latency): number => percentile(l.ours, 50) / percentile(l.floor, 50);
  const oneCoreRatios = onePairs.map(ratioOf);
  const oneCoreRatio = median(oneCoreRatios);
  const pairs = onePairs.length > 1 ? `, median of ${onePairs.length} process pairs` : '';
  const placed = twoCores === null ? [] : [
    { key: 'rawTcpRttTwoCoresUs', value: percentile(twoCores.floor, 50), note: 'the same, the echo process on another core' },
    { key: 'remoteCallTwoCoresP50Us', value: percentile(twoCores.ours, 50), note: 'the same, n1 on another core' },
    { key: 'remoteCallRatioOneCore', value: oneCoreRatio, note: `median of the pairs' ratios: ${oneCoreRatios.map((r) => r.toFixed(3)).join(', ')}` },
    { key: 'remoteCallRatioTwoCores', value: ratioOf(twoCores) },
    { key: 'rawTcpRttUnpinnedUs', value: percentile(unpinned.floor, 50), note: 'placement left to the kernel (not compared)' },
    { key: 'remoteCallUnpinnedP50Us', value: percentile(unpinned.ours, 50), note: 'placement left to the kernel (not compared)' },
  ];
  report('net', [
    { key: 'rawTcpRttUs', value: median(onePairs.map((l) => percentile(l.floor, 50))), note: `floor: msgpackr request/reply over plain TCP, p50${twoCores === null ? ', unpinned' : `, on one core${pairs}`}` },
    { key: 'remoteCallP50Us', value: median(onePairs.map((l) => percentile(l.ours, 50))), note: pairs === '' ? undefined : pairs.slice(2) },
    { key: 'remoteCallP99Us', value: percentile(onePairs.flatMap((l) => l.ours), 99), note: pairs === '' ? undefined : 'of all pairs\' round trips' },
    { key: 'remoteCallRatio', value: Math.max(oneCoreRatio, twoCores === null ? 0 : ratioOf(twoCores)), note: `bar: <= 1.3${twoCores === null ? '' : '; the higher of one core and two'}` },
    ...placed,
    { key: 'rawTcpBatchedOpsPerSec', value: floorBatched, note: 'floor: 100 requests per frame, 10 frames in flight' },
    { key: 'pipelinedOpsPerSec', value: pipelined, note: `${inFlight} calls in flight; bar: >= 500000` },
    { key: 'pipelinedRatio', value: pipelined / floorBatched, note: 'bar: >= 0.7' },
    { key: 'rawTransfer10MiBMs', value: m10.floor, note: 'floor: 10 MiB over plain TCP + ack' },
    { key: 'migrate64KiBMs', value: m64.ms, note: 'bar: <= 2' },
    { key: 'migrate10MiBMs', value: m10.ms },
    { key: 'migrate10MiBRatio', value: m10.ms / m10.floor, note: 'bar: <= 1.5' },
    { key: 'migrate10MiBDefaultMs', value: m10Default.ms, note: 'the same without transferState (source memory freed at a later GC)' },
    { key: 'blockingWindow64KiBMs', value: m64.blocking },
    { key: 'blockingWindow10MiBMs', value: m10.blocking },
  ], f);
} finally {
  await servers.close();
}
