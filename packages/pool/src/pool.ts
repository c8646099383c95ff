/**
 * `ThreadPool`: the distributed thread pool. It owns a set of runners (compute proclets)
 * placed by the controller where CPUs are free, runs single tasks on them, and
 * coordinates data-parallel jobs (see `job.ts`) from the caller's process.
 */
import { AbortedError, ClosedError } from '@quicksand/core';
import type { CapacityEvent, Cluster, MigrationEvent, NodeStats } from '@quicksand/core';
import type { RangeOp } from '@quicksand/core/internal';
import { ShardedMap } from '@quicksand/map';
import type { ShardKey } from '@quicksand/map';
import { ShardedQueue } from '@quicksand/queue';
import { rateSample } from '@quicksand/queue/internal';
import { ShardedVector } from '@quicksand/vector';
import { JobRun } from './job.js';
import type { JobCounters, JobOptions, JobSpec, RunnerInfo } from './job.js';
import { RunnerType } from './runner.js';
import { ArraySink, ChunkListSink, DiscardSink, OrderedSink, ReduceSink, queueTarget, vectorTarget } from './sinks.js';
import type { Sink } from './sinks.js';
import { toSource } from './sources.js';
import type { PoolSource } from './sources.js';
import { moduleTask, specOf } from './task.js';
import type { Task } from './task.js';

/** Options of {@link ThreadPool.create}. */
export interface PoolOptions {
  /**
   * How many compute proclets (runners) the pool creates; each keeps about one worker
   * thread busy. The controller places them on the nodes with the most free CPUs.
   * @defaultValue the number of CPUs in the cluster (every node's `cpus`)
   */
  threads?: number;
}

/** Options of {@link ThreadPool.run}. */
export interface RunOptions {
  /** Rejects the call with AbortedError; a task already on a worker still runs, its result is dropped. */
  signal?: AbortSignal;
  /**
   * Move the ArrayBuffers the input owns (itself, or its top-level values) to the worker
   * instead of copying them; they become unusable here.
   * @defaultValue false
   */
  transfer?: boolean;
}

/** Options of a job whose results go to a queue. */
export interface QueueOutputOptions<Out> extends JobOptions {
  /** The queue that receives the results, in source order. */
  output: ShardedQueue<Out>;
  /**
   * Close the queue when the job ends (also when it fails), so consumers iterating it
   * finish. Pass false when several jobs feed one queue.
   * @defaultValue true
   */
  closeOutput?: boolean;
}

/** Options of a job whose results go to a sharded vector. */
export interface VectorOutputOptions<Out> extends JobOptions {
  /**
   * `'vector'`: a new ShardedVector; or an existing one, which the results are appended
   * to. Either way in source order.
   */
  output: 'vector' | ShardedVector<Out>;
  /**
   * Name of the new vector (with `output: 'vector'`, or by default for sharded sources).
   * @defaultValue the job's id, e.g. `pool1-4242:3.out`
   */
  outputName?: string;
}

/** Options of a job whose results come back as an array. */
export interface ArrayOutputOptions extends JobOptions {
  /**
   * Collect the results into an array, in source order.
   * @defaultValue `'array'`, except for a ShardedVector or ShardedMap source, whose
   * results go to a new ShardedVector (data in the cluster stays there).
   */
  output?: 'array';
}

/** A function applied to one element: `fn(item, position)`. */
export type ElementFn<In, Out> = (item: In, index: number) => Out | PromiseLike<Out>;

/** A task applied to one element, or a self-contained function to ship as one. */
export type ElementTask<In, Out> = Task<In, Out> | ElementFn<In, Out>;

/** A reducer: `fn(acc, item, position)` returns the new accumulator. */
export type ReduceTask<In, Acc> = Task<Acc, Acc> | ((acc: Acc, item: In, index: number) => Acc | PromiseLike<Acc>);

/** Counters of a pool since it was created. */
export interface PoolStats {
  /** Compute proclets (runners) of the pool. */
  threads: number;
  /** Runners per node. */
  nodes: Record<string, number>;
  /** Single tasks run with `run`. */
  tasks: number;
  /** Jobs started (map, filter, forEach, reduce). */
  jobs: number;
  /** Times an idle runner took half of another runner's remaining range. */
  steals: number;
  /** Times a job's range was split onto a runner with free CPU (at the start and later). */
  splits: number;
  /** Chunks run by a runner on the node that holds their data (for sources that say where). */
  localChunks: number;
  /** Chunks run by a runner on another node than the one holding their data. */
  remoteChunks: number;
  /** Times rate matching suspended a runner because the output queue filled up. */
  suspensions: number;
  /** Times rate matching resumed a runner because the output queue ran low. */
  resumptions: number;
  /** Chunks handed back unfinished by a runner whose node lost its CPU, and given to another. */
  yields: number;
}

interface Slot extends RunnerInfo {
  running: number;
}

/** Node usage is fetched at most this often for job placement. */
const LOAD_MAX_AGE_MS = 5;

let poolSeq = 0;

/**
 * A pool of compute proclets spread over the cluster's CPUs. Run single tasks, or apply a
 * task to every element of a source (`map`, `filter`, `forEach`, `reduce`): the work is
 * cut into ranges that run, many elements per worker message, wherever CPUs are free.
 *
 * @example
 * ```ts
 * const pool = await ThreadPool.create(cluster);
 * const square = pool.task<number, number>(new URL('./tasks.js', import.meta.url), 'square');
 * console.log(await pool.run(square, 7));                     // 49
 * console.log(await pool.map([1, 2, 3], square));             // [1, 4, 9]
 * console.log(await pool.map([1, 2, 3], (x: number) => x + 1)); // a shipped function: [2, 3, 4]
 * const q = await ShardedQueue.create<number>(cluster, { capacity: 1000 });
 * const job = pool.map(bigArray, square, { output: q });      // results stream into q, in order
 * for await (const y of q) consume(y);
 * await job;
 * await pool.close();
 * ```
 */
export class ThreadPool {
  /** The cluster the pool runs on. */
  readonly cluster: Cluster;
  readonly #id: string;
  readonly #slots: Slot[];
  readonly #counters: JobCounters = { steals: 0, splits: 0, localChunks: 0, remoteChunks: 0, suspensions: 0, resumptions: 0, yields: 0 };
  #tasks = 0;
  #jobs = 0;
  #closed = false;
  #load: { at: number; stats: Promise<NodeStats[]> } | null = null;

  /** CPUs per node, as the pool last heard (capacity events); unknown nodes count as having some. */
  readonly #cpus = new Map<string, number>();
  /** When each node last lost its last CPU (absent: it has CPUs). */
  readonly #cpuLostAt = new Map<string, number>();
  readonly #live = new Set<JobRun>();
  readonly #onCapacity = (e: CapacityEvent): void => {
    this.#cpus.set(e.node, e.cpus);
    if (e.cpus > 0) this.#cpuLostAt.delete(e.node);
    else if (!this.#cpuLostAt.has(e.node)) this.#cpuLostAt.set(e.node, performance.now());
    for (const job of this.#live) job.capacityChanged();
  };

  /** Keeps the runners' nodes current when the scheduler moves them. */
  readonly #onMigration = (e: MigrationEvent): void => {
    for (const s of this.#slots) if (s.ref.id === e.proclet) s.node = e.to;
  };

  private constructor(cluster: Cluster, id: string, slots: Slot[]) {
    this.cluster = cluster;
    this.#id = id;
    this.#slots = slots;
    cluster.on('migration', this.#onMigration);
    cluster.on('capacity', this.#onCapacity);
    cluster.stats().then(
      (st) => {
        for (const n of st.nodes) if (!this.#cpus.has(n.id)) this.#cpus.set(n.id, n.cpus);
      },
      () => undefined,
    );
  }

  /**
   * Creates a pool: `threads` compute proclets, placed by the controller on the nodes
   * with the most free CPUs.
   * @throws TypeError/RangeError for bad options, naming the option; CapacityError when no
   * node has CPUs.
   */
  static async create(cluster: Cluster, options: PoolOptions = {}): Promise<ThreadPool> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    let threads = options.threads;
    if (threads !== undefined && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1)) {
      throw new RangeError(`options.threads must be a positive integer, got ${String(threads)}`);
    }
    threads ??= Math.max(1, (await cluster.stats()).nodes.filter((n) => !n.lost).reduce((a, n) => a + n.cpus, 0));
    const slots: Slot[] = [];
    // One at a time, so that each placement sees the runners placed before it.
    for (let i = 0; i < threads; i++) {
      const ref = await cluster.create(RunnerType, []);
      slots.push({ ref, node: await ref.call('where'), running: 0 });
    }
    return new ThreadPool(cluster, `pool${++poolSeq}-${process.pid}`, slots);
  }

  /** Number of compute proclets. */
  get threads(): number {
    return this.#slots.length;
  }

  /**
   * Names an exported function of a module as a task; every node imports the module.
   * @param module - a `file:` URL, `URL`, or absolute path (e.g. `new URL('./tasks.js', import.meta.url)`)
   * @param exportName - the export to call
   * @throws TypeError when the module is not a file URL or absolute path.
   */
  task<In = unknown, Out = unknown>(module: string | URL, exportName: string): Task<In, Out>;
  /**
   * Makes a task of a self-contained function: it is shipped as source, so it must not
   * use variables from outside itself (a task that does fails with an error saying so).
   * @throws TypeError when `fn` is native or bound.
   */
  task<F extends (...args: never[]) => unknown>(fn: F): Task<Parameters<F>[0], Awaited<ReturnType<F>>>;
  task(module: string | URL | ((...args: never[]) => unknown), exportName?: string): Task {
    if (typeof module === 'function') return { spec: specOf(module, 'task') };
    return moduleTask(module, exportName!);
  }

  /**
   * Runs one task on a compute proclet (the least busy, preferring this node) and
   * resolves with its result.
   * @throws TaskError when the task throws (its `cause` is the original error);
   * AbortedError when `options.signal` aborts first; ClosedError after `close`.
   */
  async run<In, Out>(task: Task<In, Out> | ((input: In) => Out | PromiseLike<Out>), input: In, options: RunOptions = {}): Promise<Out> {
    this.#open();
    const spec = specOf(task, 'task');
    const signal = options.signal;
    if (signal?.aborted === true) throw new AbortedError('the task was aborted before it started');
    const slot = this.#pick();
    slot.running++;
    this.#tasks++;
    const call = slot.ref.call('run', spec, input, options.transfer === true);
    try {
      if (signal === undefined) return (await call) as Out;
      return (await abortable(call, signal)) as Out;
    } finally {
      slot.running--;
    }
  }

  /**
   * Applies `task` to every element and resolves with the results in source order: a
   * new ShardedVector for a ShardedVector or ShardedMap source, an array for any other
   * source, or what `options.output` names (`'array'`, `'vector'`, a ShardedVector to
   * append to, a ShardedQueue to push into as the results come).
   * @throws TaskError naming the position of the first element whose task threw (`cause`
   * is the original error); AbortedError when `options.signal` aborts.
   */
  map<In, Out>(source: PoolSource<In>, task: ElementTask<In, Out>, options: QueueOutputOptions<Out>): Promise<ShardedQueue<Out>>;
  map<In, Out>(source: PoolSource<In>, task: ElementTask<In, Out>, options: VectorOutputOptions<Out>): Promise<ShardedVector<Out>>;
  map<In, Out>(source: PoolSource<In>, task: ElementTask<In, Out>, options: ArrayOutputOptions & { output: 'array' }): Promise<Out[]>;
  map<In, Out>(source: ShardedVector<In>, task: ElementTask<In, Out>, options?: JobOptions & { outputName?: string }): Promise<ShardedVector<Out>>;
  map<K extends ShardKey, V, Out>(source: ShardedMap<K, V>, task: ElementTask<[K, V], Out>, options?: JobOptions & { outputName?: string }): Promise<ShardedVector<Out>>;
  map<In, Out>(source: PoolSource<In>, task: ElementTask<In, Out>, options?: ArrayOutputOptions): Promise<Out[]>;
  map<In, Out>(source: PoolSource<In>, task: ElementTask<In, Out>, options: JobOptions | QueueOutputOptions<Out> | VectorOutputOptions<Out> = {}): Promise<Out[] | ShardedQueue<Out> | ShardedVector<Out>> {
    return this.#job('map', source, task, options, undefined, undefined) as Promise<Out[] | ShardedQueue<Out> | ShardedVector<Out>>;
  }

  /**
   * Keeps the elements for which `task` returns a truthy value, in source order, with
   * the same outputs as {@link ThreadPool.map}.
   * @throws TaskError naming the element's position; AbortedError when aborted.
   */
  filter<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options: QueueOutputOptions<In>): Promise<ShardedQueue<In>>;
  filter<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options: VectorOutputOptions<In>): Promise<ShardedVector<In>>;
  filter<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options: ArrayOutputOptions & { output: 'array' }): Promise<In[]>;
  filter<In>(source: ShardedVector<In>, task: ElementTask<In, unknown>, options?: JobOptions & { outputName?: string }): Promise<ShardedVector<In>>;
  filter<K extends ShardKey, V>(source: ShardedMap<K, V>, task: ElementTask<[K, V], unknown>, options?: JobOptions & { outputName?: string }): Promise<ShardedVector<[K, V]>>;
  filter<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options?: ArrayOutputOptions): Promise<In[]>;
  filter<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options: JobOptions | QueueOutputOptions<In> | VectorOutputOptions<In> = {}): Promise<In[] | ShardedQueue<In> | ShardedVector<In>> {
    return this.#job('filter', source, task, options, undefined, undefined) as Promise<In[] | ShardedQueue<In> | ShardedVector<In>>;
  }

  /**
   * Runs `task` on every element for its effects; resolves when all are done.
   * @throws TaskError naming the element's position; AbortedError when aborted.
   */
  async forEach<In>(source: PoolSource<In>, task: ElementTask<In, unknown>, options: JobOptions = {}): Promise<void> {
    await this.#job('forEach', source, task, options, undefined, undefined);
  }

  /**
   * Folds the elements: each range is reduced on a worker with `task(acc, item, position)`
   * starting from `init`, and the ranges' results are combined in source order with
   * `combine` (on this thread). `init` must be an identity of `combine` (0 for a sum), as
   * it starts every range; an empty source gives `init`.
   * @throws TaskError naming the element's position; AbortedError when aborted.
   * @example
   * ```ts
   * const sum = await pool.reduce(numbers, (acc: number, x: number) => acc + x, 0, (a, b) => a + b);
   * ```
   */
  async reduce<In, Acc>(source: PoolSource<In>, task: ReduceTask<In, Acc>, init: Acc, combine: (a: Acc, b: Acc) => Acc, options: JobOptions = {}): Promise<Acc> {
    if (typeof combine !== 'function') throw new TypeError('reduce: combine must be a function (a, b) => combined');
    return (await this.#job('reduce', source, task, options, init, combine as (a: unknown, b: unknown) => unknown)) as Acc;
  }

  /** Counters since creation, and where the runners are. */
  stats(): PoolStats {
    const nodes: Record<string, number> = {};
    for (const s of this.#slots) nodes[s.node] = (nodes[s.node] ?? 0) + 1;
    return { threads: this.#slots.length, nodes, tasks: this.#tasks, jobs: this.#jobs, ...this.#counters };
  }

  /** Destroys the pool's compute proclets; later calls fail with ClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.cluster.off('migration', this.#onMigration);
    this.cluster.off('capacity', this.#onCapacity);
    await Promise.allSettled(this.#slots.map((s) => this.cluster.destroy(s.ref)));
  }

  // ---------------------------------------------------------------- internals

  #open(): void {
    if (this.#closed) throw new ClosedError('the thread pool is closed');
  }

  /** The runner with the fewest tasks in flight; on ties, one on this node. */
  #pick(): Slot {
    const here = this.cluster.nodeId;
    let best = this.#slots[0]!;
    for (const s of this.#slots) {
      if (s.running < best.running || (s.running === best.running && s.node === here && best.node !== here)) best = s;
    }
    return best;
  }

  async #job(op: RangeOp, source: unknown, task: unknown, options: object, init: unknown, combine: ((a: unknown, b: unknown) => unknown) | undefined): Promise<unknown> {
    this.#open();
    const fn = specOf(task, `${op}: task`);
    const opts = checkJobOptions(options, op);
    const src = await toSource(source);
    this.#jobs++;
    const id = `${this.#id}:${this.#jobs}`;
    const sharded = source instanceof ShardedVector || source instanceof ShardedMap;
    const output = op === 'map' || op === 'filter' ? (opts.output ?? (sharded ? 'vector' : 'array')) : undefined;
    // An ordered sink reports to the job, which is made after it.
    const box: { job?: JobRun } = {};
    const onOutput = (): void => box.job?.onOutput();
    const onError = (e: unknown): void => box.job?.abort(e);
    let sink: Sink;
    let rate: JobSpec['rate'];
    if (output instanceof ShardedQueue) {
      const queue = output;
      rate = (after) => rateSample(this.cluster, queue.id, after);
      sink = new OrderedSink(queueTarget(queue, opts.closeOutput ?? true), onOutput, onError);
    } else if (output === 'vector' || output instanceof ShardedVector) {
      const created = output === 'vector';
      const vector = created ? await ShardedVector.create<unknown>(this.cluster, opts.outputName ?? `${id}.out`) : output;
      sink = new OrderedSink(vectorTarget(vector, created), onOutput, onError);
    } else if (op === 'map') sink = new ArraySink(src.kind === 'ranged' ? src.length : undefined);
    else if (op === 'filter') sink = new ChunkListSink();
    else if (op === 'reduce') sink = new ReduceSink(init, combine!);
    else sink = new DiscardSink();
    const ctx = { id, runners: this.#slots, load: () => this.#nodeLoad(), hasCpu: (node: string) => (this.#cpus.get(node) ?? 1) > 0, outageMs: (node: string) => { const t = this.#cpuLostAt.get(node); return t === undefined ? 0 : performance.now() - t; }, counters: this.#counters };
    const ordered = sink instanceof OrderedSink;
    const job = (box.job = new JobRun(ctx, { op, fn, source: src, sink, ordered, rate, init }, opts));
    this.#live.add(job);
    try {
      await job.start();
      return await job.promise;
    } finally {
      this.#live.delete(job);
    }
  }

  #nodeLoad(): Promise<NodeStats[]> {
    const now = performance.now();
    if (this.#load === null || now - this.#load.at > LOAD_MAX_AGE_MS) {
      this.#load = { at: now, stats: this.cluster.stats().then((s) => s.nodes) };
    }
    return this.#load.stats;
  }
}

interface AnyJobOptions extends JobOptions {
  output?: 'array' | 'vector' | ShardedQueue<unknown> | ShardedVector<unknown>;
  outputName?: string;
  closeOutput?: boolean;
}

/** Validates the options of a job, naming the bad one. */
function checkJobOptions(options: object, op: RangeOp): AnyJobOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${op}: options must be an object`);
  const o = options as Record<string, unknown>;
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError(`${op}: options.signal must be an AbortSignal`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError(`${op}: options.onProgress must be a function`);
  if (o.output !== undefined) {
    if (op !== 'map' && op !== 'filter') throw new TypeError(`${op}: options.output is not supported (only map and filter have outputs)`);
    if (o.output !== 'array' && o.output !== 'vector' && !(o.output instanceof ShardedQueue) && !(o.output instanceof ShardedVector)) {
      throw new TypeError(`${op}: options.output must be 'array', 'vector', a ShardedVector or a ShardedQueue`);
    }
  }
  if (o.closeOutput !== undefined && typeof o.closeOutput !== 'boolean') throw new TypeError(`${op}: options.closeOutput must be a boolean`);
  if (o.outputName !== undefined && (typeof o.outputName !== 'string' || o.outputName.length === 0)) throw new TypeError(`${op}: options.outputName must be a non-empty string`);
  return o;
}

/** Settles with `p`, or rejects with AbortedError when `signal` aborts first. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('the task was aborted; it may still finish on its worker, its result is dropped'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // The task's error is passed on unchanged.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(e);
      },
    );
  });
}
