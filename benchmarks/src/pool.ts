/**
 * Pool benchmark: `@quicksand/pool` next to Piscina (the thread pool Node users pick),
 * both with THREADS worker threads (the machine's cores), in this one process. Both load
 * the same task module (`pool-tasks.ts`).
 *
 * Measured:
 * - `tinyTasksPerSec` / `piscinaTinyTasksPerSec` / `tinyTaskRatio`: one trivial task
 *   (`inc`) per call, 1,000 calls in flight. Ours: `pool.run` on an in-process cluster of
 *   one node with THREADS cpus (so the same threads as Piscina). Rounds alternate; medians.
 *   Also `tinySequentialPerSec` / `piscinaTinySequentialPerSec`: one call at a time
 *   (round-trip latency, where batching cannot help).
 * - `mapItemsPerSec` / `piscinaMapItemsPerSec` / `mapRatio`: a cheap function
 *   (`x * 2 + 1`) on every element of a 1M-element array. Piscina: one task per element,
 *   10,000 in flight (with `--quick`, over the first 100,000 elements only: the rate is
 *   what is compared). Ours: `pool.map` over a 1M-element `ShardedVector` holding the
 *   same numbers (default shards, filled before timing), results into a new
 *   `ShardedVector` in order (the default for a vector source): reading the shards,
 *   the workers, and appending to the output vector are all inside the time. Also
 *   `mapArrayItemsPerSec`: the same map over the plain array into an array.
 * - `cpuSpeedup`: a CPU-bound map (fixed integer work, about 2 ms per element on this
 *   machine, no timers) on a THREADS-CPU node over the same map on a 1-CPU node: median
 *   wall time of the one over the other. Baseline `piscinaCpuSpeedup`: the same elements
 *   as one Piscina task each, THREADS threads over 1 thread; it shows how much
 *   parallelism the machine gave at that moment (other processes share it).
 * - `rateMatchMs`: a pool maps CPU-bound elements (about 50 us each) into a queue of
 *   capacity 1,000 that a paced consumer drains at 1.5x one runner's measured rate (so
 *   two runners are needed). Then the consumer halves its speed; `rateMatchMs` is the
 *   time from the halving to the last change of the number of running compute proclets
 *   seen within the next 600 ms (median over rounds); `runningBefore`/`runningAfter`
 *   say what it changed from and to. `rateResumeMs`: the same when the consumer then
 *   becomes much faster (one runner to two).
 * Not measured: clusters of real processes (see the `net` benchmark).
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Cluster } from '@quicksand/core';
import { ThreadPool } from '@quicksand/pool';
import type { Task } from '@quicksand/pool';
import { ShardedQueue } from '@quicksand/queue';
import { ShardedVector } from '@quicksand/vector';
import { flags, median, report, tick } from './harness.js';
import type { Row } from './harness.js';
import { burn } from './pool-tasks.js';

const f = flags();
const THREADS = Math.max(2, availableParallelism());
const TASKS = new URL('./pool-tasks.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls per second of `call(i)` for i < n, with `window` calls in flight. */
async function rate(n: number, window: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < n) await call(next++);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

/** Median milliseconds of `fn` over `rounds`. */
async function timeMs(rounds: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
    await tick();
  }
  return out;
}

/** Iterations of `burn` that take about `ms` on this thread. */
function calibrate(ms: number): number {
  let k = 10_000;
  for (;;) {
    const t = performance.now();
    burn(k);
    const took = performance.now() - t;
    if (took > 20) return Math.max(1, Math.round((k * ms) / took));
    k *= 2;
  }
}

const piscina = new Piscina({ filename: TASKS.href, minThreads: THREADS, maxThreads: THREADS });
const piscina1 = new Piscina({ filename: TASKS.href, minThreads: 1, maxThreads: 1 });
const cluster = await Cluster.start({ nodes: [{ cpus: THREADS, memory: '2GiB' }] });
const one = await Cluster.start({ nodes: [{ cpus: 1, memory: '1GiB' }] });
try {
  const pool = await ThreadPool.create(cluster, { threads: THREADS });
  const pool1 = await ThreadPool.create(one, { threads: 1 });
  const inc = pool.task<number, number>(TASKS, 'inc');
  const cheap = pool.task<number, number>(TASKS, 'cheap');
  const burnTask = pool.task<number, number>(TASKS, 'burn');

  // ------------------------------------------------------------ tiny tasks
  const tinyN = f.quick ? 30_000 : 100_000;
  await rate(2_000, 100, (i) => piscina.run(i, { name: 'inc' }));
  await rate(2_000, 100, (i) => pool.run(inc, i));
  const P: number[] = [];
  const Q: number[] = [];
  for (let r = 0; r < (f.quick ? 3 : 7); r++) {
    P.push(await rate(tinyN, 1_000, (i) => piscina.run(i, { name: 'inc' })));
    await tick();
    Q.push(await rate(tinyN, 1_000, (i) => pool.run(inc, i)));
    await tick();
  }
  const piscinaTiny = median(P);
  const tiny = median(Q);
  const PS: number[] = [];
  const QS: number[] = [];
  for (let r = 0; r < (f.quick ? 3 : 7); r++) {
    PS.push(await rate(f.quick ? 3_000 : 10_000, 1, (i) => piscina.run(i, { name: 'inc' })));
    QS.push(await rate(f.quick ? 3_000 : 10_000, 1, (i) => pool.run(inc, i)));
  }

  // ------------------------------------------------------------ map over 1M elements
  const M = 1_000_000;
  const xs = Array.from({ length: M }, (_, i) => i);
  const piscinaN = f.quick ? 100_000 : M;
  const pm = await timeMs(1, () => rate(piscinaN, 10_000, (i) => piscina.run(xs[i], { name: 'cheap' })));
  const piscinaMap = piscinaN / (median(pm) / 1000);
  const vin = await ShardedVector.create<number>(cluster, 'bench.pool.in');
  await vin.pushAll(xs);
  const mm: number[] = [];
  for (let r = 0; r < (f.quick ? 3 : 5); r++) {
    const t = performance.now();
    const out = await pool.map(vin, cheap, { outputName: `bench.pool.out${r}` });
    mm.push(performance.now() - t);
    if ((await out.length()) !== M || (await out.get(M - 1)) !== (M - 1) * 2 + 1) throw new Error('pool.map returned wrong results');
    await out.destroy();
    await tick();
  }
  const mapRate = M / (median(mm) / 1000);
  let check: number[] = [];
  const ma = await timeMs(f.quick ? 3 : 5, async () => {
    check = await pool.map(xs, cheap);
  });
  if (check.length !== M || check[M - 1] !== (M - 1) * 2 + 1) throw new Error('pool.map returned wrong results');
  const mapArrayRate = M / (median(ma) / 1000);
  const shards = (await vin.shards()).length;
  await vin.destroy();

  // ------------------------------------------------------------ CPU-bound speedup
  const k2ms = calibrate(2);
  const cpuItems = Array.from({ length: f.quick ? 200 : 600 }, () => k2ms);
  await pool1.map(cpuItems.slice(0, 20), burnTask);
  await pool.map(cpuItems.slice(0, 20), burnTask);
  const piscinaMapAll = (p: Piscina): Promise<unknown> => Promise.all(cpuItems.map((k) => p.run(k, { name: 'burn' })));
  await piscinaMapAll(piscina1);
  const oneCore: number[] = [];
  const allCores: number[] = [];
  const piscinaOne: number[] = [];
  const piscinaAll: number[] = [];
  for (let r = 0; r < (f.quick ? 3 : 5); r++) {
    oneCore.push(...(await timeMs(1, () => pool1.map(cpuItems, burnTask))));
    allCores.push(...(await timeMs(1, () => pool.map(cpuItems, burnTask))));
    piscinaOne.push(...(await timeMs(1, () => piscinaMapAll(piscina1))));
    piscinaAll.push(...(await timeMs(1, () => piscinaMapAll(piscina))));
  }
  const cpuSpeedup = median(oneCore) / median(allCores);

  // ------------------------------------------------------------ rate matching
  const k50us = Math.max(1, Math.round(k2ms / 40));
  const perRunner = 2_000 / median(await timeMs(3, () => pool1.map(Array.from({ length: 2_000 }, () => k50us), burnTask))); // elements per ms
  const rounds = f.quick ? 3 : 7;
  const settle: number[] = [];
  const resume: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const m = await rateMatch(pool, burnTask, k50us, perRunner);
    settle.push(m.settleMs);
    resume.push(m.resumeMs);
    before.push(m.before);
    after.push(m.after);
  }

  const rows: Row[] = [
    { key: 'threads', value: THREADS, note: 'worker threads, both pools' },
    { key: 'piscinaTinyTasksPerSec', value: piscinaTiny, note: 'baseline: Piscina, one trivial task per call, 1,000 in flight' },
    { key: 'tinyTasksPerSec', value: tiny, note: 'pool.run, same load' },
    { key: 'tinyTaskRatio', value: tiny / piscinaTiny, note: 'bar: >= 1' },
    { key: 'piscinaTinySequentialPerSec', value: median(PS), note: 'baseline: Piscina, one call at a time' },
    { key: 'tinySequentialPerSec', value: median(QS), note: 'pool.run, one call at a time' },
    { key: 'piscinaMapItemsPerSec', value: piscinaMap, note: `baseline: Piscina, one task per element${f.quick ? ' (first 100k of 1M)' : ''}` },
    { key: 'mapItemsPerSec', value: mapRate, note: `pool.map, 1M-element ShardedVector (${shards} shards) into a new one` },
    { key: 'mapRatio', value: mapRate / piscinaMap, note: 'bar: >= 5' },
    { key: 'mapArrayItemsPerSec', value: mapArrayRate, note: 'pool.map, the same over a plain array into an array' },
    { key: 'cpuOneCoreMs', value: median(oneCore), note: `${cpuItems.length} elements of ~2 ms fixed work, 1 CPU` },
    { key: 'cpuAllCoresMs', value: median(allCores), note: `same, ${THREADS} CPUs` },
    { key: 'cpuSpeedup', value: cpuSpeedup, note: 'bar: >= 1.7 on 2 cores' },
    { key: 'piscinaCpuSpeedup', value: median(piscinaOne) / median(piscinaAll), note: 'baseline: the same with Piscina (what the machine allowed)' },
    { key: 'runnerItemsPerMs', value: perRunner, note: 'one runner, ~50 us elements' },
    { key: 'runningBefore', value: median(before), note: 'compute proclets running, consumer at 1.5x one runner' },
    { key: 'runningAfter', value: median(after), note: 'after the consumer halves its speed' },
    { key: 'rateMatchMs', value: median(settle), note: 'bar: <= 50; median over rounds' },
    { key: 'rateMatchMaxMs', value: Math.max(...settle) },
    { key: 'rateResumeMs', value: median(resume), note: 'consumer 4x faster again' },
  ];
  report('pool', rows, f);
  await pool.close();
  await pool1.close();
} finally {
  await cluster.close();
  await one.close();
  await piscina.destroy();
  await piscina1.destroy();
}

interface RateMatch {
  settleMs: number;
  resumeMs: number;
  before: number;
  after: number;
}

/**
 * One round of the rate-matching measurement: a pipeline whose consumer drains at 1.5x,
 * then 0.75x, then 3x one runner's rate; times from each change to the last change of
 * the number of running compute proclets that follows it.
 */
async function rateMatch(pool: ThreadPool, task: Task<number, number>, k: number, perRunner: number): Promise<RateMatch> {
  const q = await ShardedQueue.create<number>(pool.cluster, { capacity: 1_000 });
  const changes: Array<[number, number]> = [];
  let running = 0;
  const ac = new AbortController();
  const source = Array.from({ length: Math.ceil(perRunner * 4_000) }, () => k);
  const job = pool.map(source, task, {
    output: q,
    signal: ac.signal,
    onProgress: (p) => {
      if (p.running !== running) changes.push([performance.now(), p.running]);
      running = p.running;
    },
  });
  job.catch(() => undefined);
  let speed = 1.5 * perRunner;
  let stop = false;
  const consumer = (async () => {
    let last = performance.now();
    let owed = 0;
    while (!stop) {
      await sleep(1);
      const t = performance.now();
      owed = Math.min(owed + speed * (t - last), speed * 10);
      last = t;
      const n = Math.floor(owed);
      if (n > 0) owed -= (await q.tryPop(n)).length;
    }
  })();
  const lastChangeAfter = (t0: number, window: number): number => {
    const within = changes.filter(([t]) => t > t0 && t <= t0 + window);
    return within.length === 0 ? 0 : within[within.length - 1]![0] - t0;
  };
  await sleep(400);
  const before = running;
  const t0 = performance.now();
  speed = 0.75 * perRunner;
  await sleep(600);
  const after = running;
  const settleMs = lastChangeAfter(t0, 600);
  const t1 = performance.now();
  speed = 3 * perRunner;
  await sleep(400);
  const resumeMs = lastChangeAfter(t1, 400);
  ac.abort();
  stop = true;
  await consumer;
  await job.catch(() => undefined);
  await q.destroy();
  return { settleMs, resumeMs, before, after };
}
