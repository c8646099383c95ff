/**
 * The Quicksand demo: the paper's case study, an image-training input pipeline, end to
 * end on real node processes.
 *
 * 1. A `LocalCluster` starts one node process per `--nodes` entry.
 * 2. The thread pool generates `--images` JPEGs (256x256, with sharp) into a
 *    `ShardedVector<Uint8Array>`: its shards are memory proclets, placed on the nodes with
 *    the most free memory as the vector grows.
 * 3. The thread pool preprocesses them (`pool.map(images, preprocess, { output: queue })`):
 *    decode, random 224x224 crop, resize to 64x64, random flip, normalise to a
 *    Float32Array. Compute proclets read their images from the shards next to them and
 *    push the samples, in order, into a bounded `ShardedQueue<Float32Array>`.
 * 4. Emulated GPUs drain the queue: each takes a batch of `--batch` samples, then
 *    "trains" on it for `--gpu-ms` ms. The pool's rate matching suspends compute proclets
 *    when the GPUs' demand needs fewer than are running, and resumes them when the queue
 *    runs low.
 *
 * While it runs, one status line shows progress (a plain line every 2 s when stderr is
 * not a terminal). At the end it prints the throughput, how busy the GPUs were, what
 * each node holds (memory / compute proclets), migrations and splits, and writes
 * `out/demo.svg` (throughput, queue length and running compute proclets over time).
 *
 * Usage:
 *   npm run demo -- [--nodes SPEC] [--images N] [--gpus N] [--batch N] [--gpu-ms MS] [--quick] [--json]
 *   node examples/dist/run.js demo [same flags]
 *
 * `--nodes` lists the nodes, comma separated, each `CPUS:MEMORY`, optionally prefixed
 * with a count `Kx`: `2x1cpu:512MiB` (the default), `"1:512MiB,1:256MiB"`,
 * `"1:1GiB,3:64MiB"` (a memory-rich node and a CPU-rich one). Defaults: 1,200 images,
 * 2 GPUs, batches of 32, 500 ms per batch (the GPUs take at most 128 images/s). `--quick`
 * is the CI smoke test (300 images, about 10 s); `--json` prints one JSON line last.
 *
 * Measured (the summary and the JSON line): `imagesPerSec` (end to end, from the start
 * of preprocessing to the last batch trained), `preprocessImagesPerSec`,
 * `gpuBusyFraction` (GPU time computing rather than waiting for a batch), migrations
 * (cluster events), splits (vector shards sealed, thread-pool splits, queue segments),
 * steals, rate-matching suspensions, and the proclets on each node.
 */
import { parseSize } from '@quicksand/core';
import type { ClusterStats, MigrationEvent, NodeSpec } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { ThreadPool } from '@quicksand/pool';
import type { JobProgress, PoolStats } from '@quicksand/pool';
import { ShardedQueue } from '@quicksand/queue';
import { ShardedVector } from '@quicksand/vector';
import { flags, plotPath, report, sleep } from './common.js';
import { writeChart } from './plot.js';
import type { Series } from './plot.js';

const USAGE = 'usage: npm run demo -- [--nodes 2x1cpu:512MiB | "1:512MiB,1:256MiB"] [--images N] [--gpus N] [--batch N] [--gpu-ms MS] [--quick] [--json]';

/** The demo's settings, from the command line. */
interface DemoOptions {
  nodes: NodeSpec[];
  images: number;
  gpus: number;
  batch: number;
  gpuMs: number;
}

/** Parses `--nodes`: `[Kx]CPUS[cpu|cpus]:SIZE`, comma separated. */
function parseNodes(spec: string): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(?:(\d+)\s*x\s*)?(\d+)\s*(?:cpus?)?\s*:\s*(\S+)$/i.exec(part);
    if (m === null) throw new RangeError(`--nodes: '${part}' is not CPUS:MEMORY (e.g. 1:512MiB or 2x1cpu:512MiB)`);
    const count = m[1] === undefined ? 1 : Number(m[1]);
    const cpus = Number(m[2]);
    parseSize(m[3]!, `--nodes '${part}' memory`);
    if (count < 1) throw new RangeError(`--nodes: '${part}' must name at least one node`);
    for (let i = 0; i < count; i++) nodes.push({ cpus, memory: m[3]! });
  }
  if (nodes.length === 0) throw new RangeError('--nodes must name at least one node');
  if (nodes.every((n) => n.cpus === 0)) throw new RangeError('--nodes: at least one node needs a CPU');
  return nodes;
}

/** Reads the demo's own flags (`--json` and `--quick` are read by `flags()`). */
function parseOptions(argv: string[], quick: boolean): DemoOptions {
  const o: DemoOptions = { nodes: parseNodes('2x1:512MiB'), images: quick ? 300 : 1_200, gpus: 2, batch: 32, gpuMs: 500 };
  const ints: Record<string, keyof Omit<DemoOptions, 'nodes'>> = { '--images': 'images', '--gpus': 'gpus', '--batch': 'batch', '--gpu-ms': 'gpuMs' };
  const args = [...argv];
  if (args[0] === 'demo') args.shift(); // `run.js demo ...`
  while (args.length > 0) {
    const arg = args.shift()!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name === '--json' || name === '--quick') continue;
    if (name !== '--nodes' && !(name in ints)) throw new RangeError(`unknown argument '${arg}'`);
    const value = eq > 0 ? arg.slice(eq + 1) : args.shift();
    if (value === undefined) throw new RangeError(`${name} needs a value`);
    if (name === '--nodes') {
      o.nodes = parseNodes(value);
    } else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got '${value}'`);
      o[ints[name]!] = n;
    }
  }
  return o;
}

const f = flags();
let opts: DemoOptions;
try {
  opts = parseOptions(process.argv.slice(2), f.quick);
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}

const TASKS = new URL('./demo-tasks.js', import.meta.url);
const MiB = 2 ** 20;
const TTY = process.stderr.isTTY === true;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

let statusAt = 0;
/**
 * One status line: rewritten in place on a terminal (cut to its width, at most every
 * 100 ms), printed as is otherwise (at most every 2 s). A final line always shows, and the
 * next line after it too.
 */
function status(line: string, final = false): void {
  const now = performance.now();
  if (!final && now - statusAt < (TTY ? 100 : 2_000)) return;
  statusAt = final ? 0 : now;
  if (!TTY) {
    process.stderr.write(`${line}\n`);
    return;
  }
  const width = Math.max(20, (process.stderr.columns ?? 120) - 1);
  const shown = final || line.length <= width ? line : `${line.slice(0, width - 1)}…`;
  process.stderr.write(`\r${shown}\x1b[K${final ? '\n' : ''}`);
}

/** A sample of the pipeline, taken every SAMPLE_MS. */
interface Sample {
  s: number;
  done: number;
  trained: number;
  running: number;
  queued: number;
}
const SAMPLE_MS = 250;

const wallStart = performance.now();
const cluster = await LocalCluster.start({ nodes: opts.nodes, logs: 'silent' });
const startupMs = performance.now() - wallStart;
try {
  const migrations: MigrationEvent[] = [];
  cluster.on('migration', (e) => migrations.push(e));
  const cpus = opts.nodes.reduce((a, n) => a + n.cpus, 0);
  const nodeList = opts.nodes.map((n, i) => `n${i} ${n.cpus} CPU / ${String(n.memory)}`).join(', ');
  console.log(`Quicksand demo: ${opts.nodes.length} node processes (${nodeList}) started in ${(startupMs / 1000).toFixed(1)} s`);
  const pool = await ThreadPool.create(cluster);

  // 1. Make the images, on the pool, straight into the sharded vector.
  const images = await ShardedVector.create<Uint8Array>(cluster, 'demo.images');
  const generate = pool.task<number, Uint8Array>(TASKS, 'generateImage');
  const seeds = Array.from({ length: opts.images }, (_, i) => i);
  let t = performance.now();
  const genProgress = (p: JobProgress): void => status(`generating images ${p.done}/${opts.images}  (${p.running} compute proclets)`);
  await pool.map(seeds, generate, { output: images, onProgress: genProgress });
  const genMs = performance.now() - t;
  const shards = await images.shards();
  const byNode = new Map<string, { shards: number; bytes: number }>();
  for (const s of shards) {
    const n = byNode.get(s.node) ?? { shards: 0, bytes: 0 };
    n.shards++;
    n.bytes += s.bytes;
    byNode.set(s.node, n);
  }
  const imageBytes = shards.reduce((a, s) => a + s.bytes, 0);
  status(`generated ${opts.images} JPEGs (${mib(imageBytes)}) in ${(genMs / 1000).toFixed(1)} s; vector shards: ${[...byNode].map(([n, v]) => `${n} ${v.shards} (${mib(v.bytes)})`).join(', ')}`, true);

  // 2. Preprocess into a bounded queue, drained by the emulated GPUs.
  const capacity = 4 * opts.gpus * opts.batch;
  const queue = await ShardedQueue.create<Float32Array>(cluster, { capacity });
  const preprocess = pool.task<Uint8Array, Float32Array>(TASKS, 'preprocess');
  const poolBefore = pool.stats();
  const migrationsBefore = migrations.length;
  const gpuCeiling = (opts.gpus * opts.batch * 1000) / opts.gpuMs;
  console.log(`preprocessing on ${cpus} CPUs into a queue of ${capacity} samples, drained by ${opts.gpus} GPUs (batches of ${opts.batch}, ${opts.gpuMs} ms each: at most ${Math.round(gpuCeiling)} images/s)`);

  let progress: JobProgress = { done: 0, total: opts.images, running: 0 };
  t = performance.now();
  const job = pool.map(images, preprocess, { output: queue, onProgress: (p) => (progress = p) });
  let jobMs = NaN;
  const jobDone = job.then(() => (jobMs = performance.now() - t));
  jobDone.catch(() => undefined); // awaited below; the GPUs see the queue closed either way

  let trained = 0;
  let busyMs = 0;
  let waitMs = 0;
  let fillMs = 0; // each GPU's wait for its first batch, while the pipeline fills
  const gpu = async (): Promise<void> => {
    for (let first = true; ; first = false) {
      const w0 = performance.now();
      let got = 0;
      while (got < opts.batch) {
        const xs = await queue.popMany(opts.batch - got);
        if (xs.length === 0) break; // closed and empty
        got += xs.length;
      }
      const w1 = performance.now();
      waitMs += w1 - w0;
      if (first) fillMs += w1 - w0;
      if (got === 0) return;
      await sleep(opts.gpuMs);
      busyMs += performance.now() - w1;
      trained += got;
    }
  };
  const gpus = Array.from({ length: opts.gpus }, () => gpu());

  // The status line and the time series of the plot.
  const samples: Sample[] = [{ s: 0, done: 0, trained: 0, running: 0, queued: 0 }];
  /** Per second, at sample `i`, over the `windowMs` before it (0 at the first sample). */
  const rateAt = (i: number, key: 'done' | 'trained', windowMs: number): number => {
    const x = samples[i]!;
    const back = samples[Math.max(0, i - windowMs / SAMPLE_MS)]!;
    return i === 0 ? 0 : (x[key] - back[key]) / (x.s - back.s);
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sleep(SAMPLE_MS);
      const queued = await queue.length().catch(() => 0);
      const sample: Sample = { s: (performance.now() - t) / 1000, done: progress.done, trained, running: progress.running, queued };
      samples.push(sample);
      const rate = rateAt(samples.length - 1, 'done', 1_000);
      const busy = busyMs + waitMs > 0 ? busyMs / (busyMs + waitMs) : 0;
      const pct = Math.floor((100 * sample.done) / opts.images);
      status(`preprocessed ${sample.done}/${opts.images} (${pct}%) | ${rate.toFixed(0)} images/s | compute proclets running ${sample.running}/${pool.stats().threads} | queue ${queued}/${capacity} | trained ${trained} | GPUs busy ${(100 * busy).toFixed(0)}%`);
    }
  })();
  let trainMs: number;
  try {
    await Promise.all(gpus);
    trainMs = performance.now() - t;
    await jobDone;
  } finally {
    sampling = false;
    await sampler;
  }
  status(`preprocessed ${opts.images}/${opts.images} images, GPUs trained on ${trained}`, true);

  // 3. The summary.
  const stats: ClusterStats = await cluster.stats();
  const ps: PoolStats = pool.stats();
  const qs = await queue.stats();
  const endShards = await images.shards();
  const delta = (k: keyof PoolStats): number => (ps[k] as number) - (poolBefore[k] as number);
  const procletsPerNode: Record<string, { memory: number; compute: number; memoryMiB: number; tasks: number }> = {};
  for (const n of stats.nodes) procletsPerNode[n.id] = { memory: n.proclets.memory, compute: n.proclets.compute, memoryMiB: Math.round((10 * n.memoryUsed) / MiB) / 10, tasks: n.tasksCompleted };
  const reasons = new Map<string, number>();
  for (const m of migrations) reasons.set(m.reason, (reasons.get(m.reason) ?? 0) + 1);
  const vectorSplits = endShards.length - 1; // the vector grows by sealing its tail; nothing merges here
  const poolSplits = delta('splits');
  const queueSplits = qs.segmentsCreated - 1;

  console.log('\nwhere things ended up (proclets per node):');
  for (const n of stats.nodes) {
    const shardCount = endShards.filter((s) => s.node === n.id).length;
    console.log(`  ${n.id}: ${n.proclets.memory} memory proclets (${shardCount} image shards, ${mib(n.memoryUsed)} of ${mib(n.memory)}), ${n.proclets.compute} compute proclets on ${n.cpus} CPU(s), ${n.tasksCompleted} worker tasks, ${(n.workerBusyMs / 1000).toFixed(1)} s worker busy`);
  }
  console.log(`migrations: ${migrations.length}${reasons.size > 0 ? ` (${[...reasons].map(([r, c]) => `${c} ${r}`).join(', ')})` : ''}`);
  for (const m of migrations.slice(0, 5)) console.log(`  ${m.type} ${m.proclet} ${m.from} -> ${m.to}: ${(m.bytes / 1024).toFixed(0)} KiB, calls blocked ${m.blockingMs.toFixed(2)} ms (${m.reason})`);
  if (migrations.length > 5) console.log(`  ... and ${migrations.length - 5} more`);

  // Time-weighted compute proclets running while the job ran, and the bottleneck.
  const busyFraction = busyMs / (busyMs + waitMs);
  const steadyBusy = busyMs / (busyMs + waitMs - fillMs);
  const jobS = jobMs / 1000;
  let runningArea = 0;
  for (let i = 1; i < samples.length && samples[i - 1]!.s < jobS; i++) {
    runningArea += samples[i - 1]!.running * (Math.min(samples[i]!.s, jobS) - samples[i - 1]!.s);
  }
  const avgRunning = runningArea / jobS;
  if (steadyBusy < 0.9) {
    console.log(`bottleneck: preprocessing. Once the pipeline had filled, the GPUs waited for a batch ${(100 * (1 - steadyBusy)).toFixed(0)}% of the time; give the pool more CPUs (--nodes) or the GPUs more to do per batch (--gpu-ms).`);
  } else {
    console.log(`bottleneck: the GPUs (busy ${(100 * steadyBusy).toFixed(0)}% once the pipeline had filled). Rate matching kept ${avgRunning.toFixed(1)} of ${ps.threads} compute proclets running on average (${delta('suspensions')} suspensions), leaving the rest of the CPU free.`);
  }

  // The plot: rates over 2 s windows, queue length, running compute proclets.
  const rateSeries = (key: 'done' | 'trained'): Array<[number, number]> => samples.map((x, i) => [x.s, rateAt(i, key, 2_000)]);
  const preprocessed = rateSeries('done');
  const end = samples[samples.length - 1]!.s;
  const peak = Math.max(gpuCeiling, ...preprocessed.map((p) => p[1]));
  // A 1-2-5 multiple that puts all compute proclets running at about half the peak rate.
  const raw = peak / 2 / Math.max(1, ps.threads);
  const mag = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  const scale = [5, 2, 1].map((m) => m * mag).find((v) => v <= raw) ?? 1;
  const series: Series[] = [
    { name: 'preprocessed / s', points: preprocessed },
    { name: 'trained / s', points: rateSeries('trained') },
    { name: 'GPU ceiling / s', points: [[0, gpuCeiling], [end, gpuCeiling]] },
    { name: 'queue length', points: samples.map((x) => [x.s, x.queued]) },
    { name: `proclets running x${scale}`, step: true, points: samples.map((x) => [x.s, x.running * scale]) },
  ];
  const svg = writeChart(plotPath('demo'), { title: `Image pipeline: ${opts.images} images, ${opts.nodes.length} nodes, ${opts.gpus} GPUs`, xLabel: 'seconds since preprocessing started', yLabel: 'images/s, samples, compute proclets', series, yMin: 0 });

  report('demo', [
    { key: 'nodes', value: opts.nodes.map((n) => `${n.cpus}:${String(n.memory)}`).join(',') },
    { key: 'images', value: opts.images, note: `${mib(imageBytes)} of JPEGs in ${endShards.length} vector shards` },
    { key: 'startupMs', value: startupMs, note: 'starting the node processes' },
    { key: 'generateMs', value: genMs, note: 'making the JPEGs on the pool, into the vector' },
    { key: 'preprocessMs', value: jobMs, note: 'the preprocessing job, start to last sample queued' },
    { key: 'imagesPerSec', value: opts.images / (trainMs / 1000), note: 'end to end: preprocessed and trained on' },
    { key: 'preprocessImagesPerSec', value: opts.images / (jobMs / 1000) },
    { key: 'gpuCeilingImagesPerSec', value: gpuCeiling, note: 'what the GPUs could take' },
    { key: 'gpuBusyFraction', value: busyFraction, note: 'GPU time computing, not waiting for a batch' },
    { key: 'gpuBusyAfterFill', value: steadyBusy, note: "the same, without each GPU's wait for its first batch" },
    { key: 'migrations', value: migrations.length - migrationsBefore, note: `during preprocessing (${migrations.length} in all)` },
    { key: 'splits', value: vectorSplits + poolSplits + queueSplits, note: `vector ${vectorSplits}, thread pool ${poolSplits}, queue ${queueSplits}` },
    { key: 'steals', value: delta('steals'), note: 'idle compute proclets taking half of a range' },
    { key: 'avgComputeProcletsRunning', value: avgRunning, note: `of ${ps.threads}, while preprocessing` },
    { key: 'suspensions', value: delta('suspensions'), note: `rate matching (resumptions ${delta('resumptions')})` },
    { key: 'localChunks', value: delta('localChunks'), note: `chunks read next to their shard (remote ${delta('remoteChunks')})` },
    { key: 'wallMs', value: performance.now() - wallStart, note: 'including startup' },
    { key: 'plot', value: svg },
  ], f, { procletsPerNode });
  await pool.close();
} catch (e) {
  if (TTY) process.stderr.write('\n');
  console.error(`demo failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  process.exitCode = 1;
} finally {
  await cluster.close();
}
