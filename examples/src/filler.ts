/**
 * The filler experiment (Figure 1 of the Quicksand paper): two nodes whose free CPU
 * alternates every 10 ms in antiphase (another tenant takes the core of one, then of the
 * other); a CPU-bound filler job should use whichever core is free.
 *
 * Setup: a LocalCluster of two node processes with one CPU each. The tenant is emulated
 * with `cluster.setCapacity(node, { cpus }, { at })`, applied by each node on its own
 * clock at the scheduled instant: a node whose capacity drops stops its worker between
 * two elements and the thread pool hands the unfinished rest to the other node, whose
 * queued work starts the instant its CPU returns. The filler is `pool.map` over elements
 * of fixed work (about 50 µs each).
 *
 * Two layouts of the threads, each on a fresh cluster, in one run:
 * - pinned (the bar's figures): both nodes' compute workers on the first core
 *   (`pinWorkers`), and every event loop, the nodes' and this driving process's, on the
 *   second (`pinMain`; see `@quicksand/net`'s README). The one free CPU of the
 *   experiment is then a core of its own, and the event loops of the nodes and of the
 *   pool's driver run beside it, as they would on the two machines of the paper, where
 *   the runtime's scheduler has a core of its own (Caladan's).
 * - shared (`sharedCores...`): every thread may run on either core, as in the runs before
 *   pinning existed. Each node's main thread wakes for every finished batch and every
 *   switch, and the kernel often runs it on the core of the worker that woke it, while
 *   the other core idles: the worker waits. Measured on the 2-core VM: 0.78-0.91 of the
 *   free core against 0.88-0.99 pinned, in 19 runs (pinned higher in all).
 * Where pinning cannot be done (not Linux, one core, no `taskset`), only the shared
 * layout runs, and its figures are the ones reported (`layout: shared`).
 *
 * Measured:
 * - `onCoreItemsPerMs`: the filler's rate on one steadily free core (node n1's CPU taken
 *   for the whole run): the work the free CPU could do. Measured before and after the
 *   alternating run, and the mean taken: from one measurement before it, the fraction
 *   swung by 0.05 with the machine's speed.
 * - `goodputFraction`: elements done while the CPU alternates, over what the free core
 *   could have done in that time (`onCoreItemsPerMs` x duration). One core is free at every
 *   moment, so this is the share of the idle CPU the filler used.
 *   Both are measured warm: a second of alternating, not measured, comes before the
 *   measured run, as the steady warm-up comes before the steady rate (the code that
 *   switches run is otherwise still being optimised by V8 during the measured run, on the
 *   same two cores). In six alternated pairs, 800 ms of it raised the fraction in all
 *   six (mean 0.804 to 0.833); 2.5 s did no better than 1 s (five pairs).
 * - `offPhaseFraction`: elements finished on a node more than 1 ms after its CPU was taken
 *   (the filler must not keep using the tenant's CPU).
 * - `singleProcletGoodputFraction` and `medianMigrationMs`: the same with a pool of one
 *   compute proclet, which cannot stay put: every switch, the scheduler migrates it to the
 *   node with the free CPU (median end-to-end migration time, from the migration events).
 *   Reported for both layouts: pinned, every message of a migration goes through event
 *   loops that share one core, and a migration takes longer (median 2.6-2.7 ms against
 *   1.7-2.1 shared), but the single proclet used about as much of the free core (0.47-0.51
 *   against 0.45-0.48, three runs). A move often fails here, when the target's CPU is
 *   taken between the scheduler's pick and the move's arrival; the runner then goes on
 *   where it was.
 *
 * Where the rest of the free core went in the shared layout, traced with the kernel's
 * scheduler events on the 2-core VM (the worker, both nodes' main threads, the driving
 * process and V8's helper threads share the two cores): the worker whose CPU returns is
 * woken on time but often waits in a run queue behind a main thread or a V8 compile job
 * while the other core is idle (often until the kernel's next 4 ms tick), about 0.5 ms a
 * phase on average; at
 * the end of a chunk the worker sits 0.3-0.7 ms before its next one, mostly while its
 * node's main thread, woken by the finished chunk, runs on the worker's core; and V8's
 * optimising compiler kept compiling the nodes' and the driver's code (about 400
 * functions, a few ms of CPU each) through the whole run.
 *
 * Writes `out/filler.svg`: elements per millisecond on each node against the schedule.
 */
import { LocalCluster } from '@quicksand/net';
import { ThreadPool } from '@quicksand/pool';
import type { Cluster, MigrationEvent } from '@quicksand/core';
import { pinProcess, pinnableCores } from '@quicksand/core/internal';
import { flags, median, plotPath, report, sleep, wallNow } from './common.js';
import { writeChart } from './plot.js';
import type { Series } from './plot.js';
import { WhoAmIType } from './types.js';

const f = flags();
const PHASE_MS = 10;
/** The alternating run done before the measured one, to warm up its code (see below). */
const WARM_MS = f.quick ? 300 : 1_000;
const TASKS = new URL('./tasks.js', import.meta.url);

type Done = [pid: number, atMs: number, check: number];

/**
 * The other tenant: flips the free CPU between the two nodes every PHASE_MS until `stop`
 * is set. Each change is sent ahead with the moment it happens (`at`), and the node
 * applies it on its own clock, as a tenant takes a core at an instant whatever our
 * messages do. Records the schedule it set.
 */
async function alternate(cluster: Cluster, nodes: [string, string], stop: { done: boolean }, switches: Array<[number, string]>): Promise<void> {
  const t0 = wallNow() + 20;
  const AHEAD = 5; // phases scheduled in advance
  for (let k = 0; !stop.done; k++) {
    const at = t0 + k * PHASE_MS;
    const on = nodes[k % 2]!;
    const off = nodes[(k + 1) % 2]!;
    await Promise.all([cluster.setCapacity(on, { cpus: 1 }, { at }), cluster.setCapacity(off, { cpus: 0 }, { at })]);
    switches.push([at, on]);
    const wait = at - (AHEAD - 1) * PHASE_MS - wallNow();
    if (wait > 0) await sleep(wait);
  }
  // Both CPUs back once the last scheduled phase is over.
  const end = switches[switches.length - 1]![0] + PHASE_MS;
  await Promise.all(nodes.map((n) => cluster.setCapacity(n, { cpus: 1 }, { at: end })));
  await sleep(Math.max(0, end - wallNow()) + 2);
}

/** What one layout of the processes measured. */
interface Measured {
  onCore: number;
  onCoreBefore: number;
  onCoreAfter: number;
  goodput: number;
  main: { done: Done[]; ms: number; switches: Array<[number, string]> };
  offPhase: number;
  nodeOfPid: Map<number, string>;
  /** The run with a pool of one compute proclet. */
  single: { goodput: number; migrations: MigrationEvent[] };
}

/** The filler on a fresh two-node cluster; `pin`: the cores for the workers and for the event loops. */
async function measure(pin: { workers: string; main: string } | null): Promise<Measured> {
  const spec = { cpus: 1, memory: '256MiB', ...(pin === null ? {} : { pinWorkers: pin.workers, pinMain: pin.main }) };
  const cluster = await LocalCluster.start({ nodes: [spec, spec], logs: 'silent' });
  try {
    const nodeOfPid = new Map<number, string>();
    for (const node of ['n0', 'n1']) {
      const who = await cluster.create(WhoAmIType, [], { node });
      const [n, pid] = await who.call('where');
      nodeOfPid.set(pid, n);
    }
    const burn = (pool: ThreadPool) => pool.task<number, Done>(TASKS, 'burn');
    const seeds = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

    // 1. The rate of the filler on one steadily free core, measured before and after the
    // alternating run (the machine's speed drifts by several percent within seconds).
    const pool = await ThreadPool.create(cluster);
    await pool.map(seeds(2_000), burn(pool)); // warm up workers and the JIT
    const calN = f.quick ? 8_000 : 20_000;
    const calibrate = async (): Promise<number> => {
      await cluster.setCapacity('n1', { cpus: 0 });
      const t = performance.now();
      await pool.map(seeds(calN), burn(pool));
      const rate = calN / (performance.now() - t);
      await cluster.setCapacity('n1', { cpus: 1 });
      return rate;
    };
    const onCoreBefore = await calibrate();

    // 2. The filler while the free CPU alternates.
    const runMs = f.quick ? 1_500 : 4_000;
    const run = async (p: ThreadPool, forMs = runMs): Promise<Measured['main']> => {
      const n = Math.round(onCoreBefore * forMs);
      const stop = { done: false };
      const switches: Array<[number, string]> = [];
      const flipping = alternate(cluster, ['n0', 'n1'], stop, switches);
      await sleep(30); // the schedule is running before the job starts
      const start = performance.now();
      const done = await p.map(seeds(n), burn(p));
      const ms = performance.now() - start;
      stop.done = true;
      await flipping;
      return { done, ms, switches };
    };
    // The alternating path warmed up too, not measured (see the header).
    await run(pool, WARM_MS);
    const main = await run(pool);
    const onCoreAfter = await calibrate();
    const onCore = (onCoreBefore + onCoreAfter) / 2;
    await pool.close();

    // Elements finished on a node more than 1 ms after its CPU was taken. (The node that has
    // the CPU at that moment is on phase from the switch on; only the other gets the 1 ms.)
    let off = 0;
    for (const [pid, at] of main.done) {
      const node = nodeOfPid.get(pid);
      let owner: string | undefined;
      let since = -Infinity;
      for (const [ts, on] of main.switches) {
        if (ts > at) break;
        owner = on;
        since = ts;
      }
      if (owner !== undefined && owner !== node && at - since > 1) off++;
    }

    // 3. One compute proclet, which must migrate to follow the CPU.
    const migrations: MigrationEvent[] = [];
    const onMigration = (e: MigrationEvent): void => {
      if (e.reason === 'cpu-pressure') migrations.push(e);
    };
    cluster.on('migration', onMigration);
    const one = await ThreadPool.create(cluster, { threads: 1 });
    await one.map(seeds(1_000), burn(one));
    const r = await run(one);
    cluster.off('migration', onMigration);
    await one.close();
    const single = { goodput: r.done.length / (onCore * r.ms), migrations };
    return { onCore, onCoreBefore, onCoreAfter, goodput: main.done.length / (onCore * main.ms), main, offPhase: off / main.done.length, nodeOfPid, single };
  } finally {
    await cluster.close();
  }
}

/**
 * Two cores for the pinned layout: the first this process may use for the compute
 * workers, the second for every event loop. Null where pinning cannot be done (not Linux,
 * one core, no `taskset`); then only the shared layout runs.
 */
function pinLayout(): { workers: string; main: string } | null {
  const cores = pinnableCores();
  return cores === null || cores.length < 2 ? null : { workers: String(cores[0]), main: String(cores[1]) };
}

const layout = pinLayout();
// The shared layout first: every process may run on every core, as before pinning existed.
const shared = await measure(null);
let pinned: Measured | null = null;
if (layout !== null) {
  // This process, a client that drives the pool, joins the event loops on their core.
  pinProcess(layout.main);
  pinned = await measure(layout);
}
const m = pinned ?? shared;
const migrations = m.single.migrations;

// The plot: elements per ms on each node, 5 ms buckets, and who has the CPU.
const bucket = 5;
const t0 = Math.min(...m.main.done.map((d) => d[1]));
const series: Series[] = [];
for (const node of ['n0', 'n1']) {
  const counts = new Map<number, number>();
  for (const [pid, at] of m.main.done) {
    if (m.nodeOfPid.get(pid) !== node) continue;
    const b = Math.floor((at - t0) / bucket);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const last = Math.max(0, ...counts.keys());
  const pts: Array<[number, number]> = [];
  for (let b = 0; b <= Math.min(last, 300 / bucket); b++) pts.push([b * bucket, (counts.get(b) ?? 0) / bucket]);
  series.push({ name: `filler on ${node} (items/ms)`, points: pts, step: true });
}
series.push({
  name: 'n0 has the CPU',
  step: true,
  points: m.main.switches.filter(([ts]) => ts - t0 <= 300).map(([ts, on]): [number, number] => [Math.max(0, ts - t0), on === 'n0' ? m.onCore * 1.1 : 0]),
});
const svg = writeChart(plotPath('filler'), { title: 'Filler following the free CPU (first 300 ms)', xLabel: 'ms', yLabel: 'elements per ms', series });

const where = layout === null ? 'shared cores (pinning unavailable here)' : `workers pinned to core ${layout.workers}, event loops to core ${layout.main}`;
report('filler', [
  { key: 'layout', value: layout === null ? 'shared' : 'pinned', note: where },
  { key: 'onCoreItemsPerMs', value: m.onCore, note: `baseline: the filler on one steadily free core (mean of ${m.onCoreBefore.toFixed(2)} before and ${m.onCoreAfter.toFixed(2)} after)` },
  { key: 'runMs', value: m.main.ms, note: `CPU alternating every ${PHASE_MS} ms (${m.main.switches.length} switches)` },
  { key: 'itemsDone', value: m.main.done.length },
  { key: 'goodputFraction', value: m.goodput, note: 'bar: >= 0.8 (work done over what the free core could do)' },
  { key: 'offPhaseFraction', value: m.offPhase, note: 'elements finished on a node >1 ms after its CPU was taken' },
  ...(pinned === null
    ? []
    : [
        { key: 'sharedCoresGoodputFraction', value: shared.goodput, note: `the same, every thread free to run on every core (free core ${shared.onCore.toFixed(2)}/ms)` },
        { key: 'sharedCoresOffPhaseFraction', value: shared.offPhase },
        { key: 'sharedCoresSingleProcletGoodputFraction', value: shared.single.goodput },
        { key: 'sharedCoresMedianMigrationMs', value: median(shared.single.migrations.map((e) => e.totalMs)) },
      ]),
  { key: 'singleProcletGoodputFraction', value: m.single.goodput, note: 'one compute proclet, migrating every switch' },
  { key: 'migrations', value: migrations.length },
  { key: 'medianMigrationMs', value: median(migrations.map((e) => e.totalMs)), note: 'compute proclet, end to end' },
  { key: 'medianBlockingMs', value: median(migrations.map((e) => e.blockingMs)) },
  { key: 'plot', value: svg },
], f);
