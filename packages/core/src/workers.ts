/**
 * A node's compute slots: one worker thread per `cpus`, started on first use. Tasks are
 * named by module URL and export name (or shipped as the source of a self-contained
 * function) so every node runs the same code. Bulk data crosses by transfer: inputs with
 * the caller's transfer list, results by transferring every ArrayBuffer a result owns
 * outright (top level, or one level inside an array or object).
 *
 * Semantics: tasks start in FIFO order per node and each worker runs one task at a time.
 * When tasks queue up, several go to a worker in one message (a batch): the pool measures
 * how long each kind of task takes and fills a batch with about `BATCH_MS` of work, and a
 * worker holding little work gets its next batch before it finishes the current one, so
 * it never waits for a round trip. A task kind not measured yet, or one that takes longer
 * than a batch, goes alone, one message per worker at a time: long tasks are spread over
 * the workers exactly as without batching. The exception is a long task that can be handed
 * back (a range task's chunk, run with `yieldValue`): one waits in a busy worker behind
 * the chunk it runs, so the worker goes on without a round trip. A batch that runs long
 * reports finished tasks as it goes (see `worker-main.ts`).
 *
 * CPU capacity: `resize` applies a change now; `schedule` announces one at a wall-clock
 * instant, which the workers apply on their own clock (`capacity.ts`): a worker beyond
 * the new capacity stops between two elements of a range task at that instant, and work
 * for a worker whose CPU comes back is sent `AHEAD_MS` before and starts at it.
 *
 * Invariants: every task settles exactly once: with its result, its error, an abort
 * (only while it still waits in the queue), or a ClosedError/TaskError when the pool
 * closes or its worker dies.
 *
 * Not handled: a task that never returns holds its worker until the pool closes; a
 * running task is not interrupted by its signal.
 */
import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AbortedError, ClosedError, TaskError, fromWireError } from './errors.js';
import { SharedCapacity, atWallClock } from './capacity.js';

/** Names the code a task runs: an exported function of a module, or a function's source. */
export interface TaskSpec {
  /** `file:` URL of the module (e.g. `new URL('./work.js', import.meta.url).href`). */
  readonly module?: string;
  /** Name of the exported function. */
  readonly export?: string;
  /** Source text of a self-contained function (no variables from outside it). */
  readonly source?: string;
}

/** Options of one task run. */
export interface RunTaskOptions {
  /** ArrayBuffers (or other transferables) in the input to move, not copy, to the worker. */
  transfer?: readonly TransferListItem[];
  /** Cancels the task while it waits for a worker. A running task is not interrupted. */
  signal?: AbortSignal;
  /**
   * Resolve with this value instead of waiting, when the node has had no CPU at all
   * (`resize(0)`) for 25 ms before the task starts. For work the caller can hand to
   * another node; shorter outages keep it queued, to start the instant the CPU returns.
   */
  yieldValue?: unknown;
}

/**
 * Names an exported function as a task.
 * @param module - a `file:` URL, `URL`, or absolute path of the module
 * @param exportName - the export to call with the task's input
 * @throws TypeError when the module is not a file URL or absolute path.
 */
export function taskSpec(module: string | URL, exportName: string): TaskSpec {
  let url = module instanceof URL ? module.href : module;
  if (typeof url !== 'string' || url.length === 0) throw new TypeError('task module must be a file URL or an absolute path');
  if (isAbsolute(url)) url = pathToFileURL(url).href;
  if (!url.startsWith('file:') && !url.startsWith('data:')) {
    throw new TypeError(`task module must be a file: URL or an absolute path (every node must be able to import it), got '${url}'`);
  }
  if (typeof exportName !== 'string' || exportName.length === 0) throw new TypeError('task export name must be a non-empty string');
  return { module: url, export: exportName };
}

/**
 * Names a self-contained function as a task; it is shipped as source text.
 * @throws TypeError when `fn` is not a function or is a native/bound function.
 */
export function taskFromFunction(fn: (...args: never[]) => unknown): TaskSpec {
  if (typeof fn !== 'function') throw new TypeError('task must be a function');
  const source = Function.prototype.toString.call(fn);
  if (source.includes('[native code]')) throw new TypeError('a native or bound function cannot be shipped as a task; export it from a module and use a module task');
  return { source };
}

/** Target worker time of one batch, in milliseconds. */
const BATCH_MS = 1;
/** Most tasks in one batch. */
const MAX_BATCH = 512;
/** A worker holding less estimated work than this gets a second batch in advance. */
const PIPELINE_MS = 2;
/** Most batches a worker holds at once. */
const MAX_DEPTH = 2;

const QUEUED = 0;
const SENT = 1;
const SETTLED = 2;

/** One kind of task (one spec), with its measured duration. */
interface Kind {
  readonly key: number;
  readonly spec: TaskSpec;
  /** Milliseconds per task, smoothed; NaN until measured. */
  estMs: number;
}

interface Job {
  kind: Kind;
  input: unknown;
  transfer: readonly TransferListItem[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  state: number;
  /** Send alone (a batch holding it could not be posted). */
  solo: boolean;
  /** Resolved with this when the node's CPUs are taken before it starts (undefined: it waits). */
  yieldValue: unknown;
}

interface Batch {
  readonly id: number;
  readonly jobs: Job[];
  /** Estimated milliseconds of work in it. */
  readonly estMs: number;
}

interface Slot {
  readonly worker: Worker;
  /** This worker's slot index: it yields its CPU when capacity drops to or below it. */
  readonly index: number;
  /** Batches sent and not finished, oldest first. */
  readonly batches: Batch[];
  /** Task kinds this worker has definitions of. */
  readonly known: Set<number>;
  busySince: bigint | null;
}

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);
/** How long a node may have no CPU before queued yieldable work is handed back. */
const HANDBACK_MS = 25;
/**
 * Work goes to a worker this long before a scheduled return of its CPU, and waits there
 * for the instant (the timer that applies the change here fires up to a millisecond or
 * two late).
 */
const AHEAD_MS = 3;

/** @internal One node's worker threads. */
export class WorkerPool {
  /** Compute slots: at most this many tasks run at once (changed by `resize`). */
  size: number;
  readonly #node: string;
  readonly #slots: Slot[] = [];
  /** FIFO of jobs; `#head` is the first live index (cheap shift). */
  #queue: Job[] = [];
  #head = 0;
  #queued = 0;
  #batchSeq = 0;
  #closed = false;
  #busyNs = 0n;
  #completed = 0;
  readonly #kindsBySpec = new WeakMap<TaskSpec, Kind>();
  readonly #kindsByKey = new Map<string, Kind>();

  #graceTimer: NodeJS.Timeout | null = null;
  /** No CPU for longer than HANDBACK_MS: yieldable work is handed back, not queued. */
  #handingBack = false;
  /** The CPU capacity and its scheduled changes, shared with the workers (they yield when it drops below them). */
  readonly #capacity: SharedCapacity;
  readonly #aheadTimers = new Set<{ cancel(): void }>();

  /** Cores the workers pin themselves to (`affinity.ts`); null: they keep the main thread's. */
  readonly #pin: string | null;

  constructor(size: number, node: string, pin: string | null = null) {
    this.size = size;
    this.#node = node;
    this.#pin = pin;
    this.#capacity = new SharedCapacity(size);
  }

  /** Workers running a task now. */
  get busy(): number {
    let n = 0;
    for (const s of this.#slots) if (s.batches.length > 0) n++;
    return n;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queued;
  }

  /** Tasks finished since start. */
  get completed(): number {
    return this.#completed;
  }

  /** Total worker busy time, in milliseconds, including tasks running now. */
  busyMs(): number {
    let ns = this.#busyNs;
    const now = process.hrtime.bigint();
    for (const s of this.#slots) if (s.busySince !== null) ns += now - s.busySince;
    return Number(ns) / 1e6;
  }

  run(spec: TaskSpec, input: unknown, options: RunTaskOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError(`node ${this.#node} is closed; its workers no longer take tasks`));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError('task aborted before it started'));
    const kind = this.#kind(spec);
    return new Promise((resolve, reject) => {
      const job: Job = { kind, input, transfer: options.transfer ?? [], resolve, reject, signal, onAbort: undefined, state: QUEUED, solo: false, yieldValue: options.yieldValue };
      if (this.#handingBack && job.yieldValue !== undefined) {
        resolve(job.yieldValue);
        return;
      }
      if (signal !== undefined) {
        job.onAbort = () => {
          if (job.state !== QUEUED) return;
          job.state = SETTLED;
          this.#queued--;
          reject(new AbortedError('task aborted while waiting for a worker'));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#queued++;
      this.#pump();
    });
  }

  /**
   * Changes the number of compute slots. Fewer: running batches finish, and no worker
   * starts new work until fewer than `size` are busy. More: queued tasks start at once.
   * `at`: the instant of the scheduled change this applies (see {@link WorkerPool.schedule}).
   */
  resize(size: number, at = -Infinity): void {
    this.size = size;
    this.#capacity.apply(size, at);
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
    this.#handingBack = false;
    if (size === 0) {
      // A short outage keeps queued work here, to start the instant the CPU returns; one
      // that lasts hands back what can run elsewhere.
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = null;
        if (this.size !== 0) return;
        this.#handingBack = true;
        for (let i = this.#head; i < this.#queue.length; i++) {
          const job = this.#queue[i]!;
          if (job.state === QUEUED && job.yieldValue !== undefined) this.#yieldJob(job);
        }
      }, HANDBACK_MS);
      this.#graceTimer.unref();
    }
    this.#pump();
  }

  /**
   * A change to `size` compute slots at wall-clock `at`, which the caller applies with
   * `resize(size, at)` when its timer fires. The workers see it at `at` on their own
   * clock: a worker beyond `size` stops between two elements of a range task then, and
   * when slots come back, queued work goes to their workers `AHEAD_MS` before and starts
   * at `at`.
   */
  schedule(at: number, size: number): void {
    // (Whether slots come back is only known at `at`: more changes may be scheduled before it.)
    if (this.#closed || !this.#capacity.schedule(at, size) || size === 0) return;
    const t = atWallClock(
      at - AHEAD_MS,
      () => {
        this.#aheadTimers.delete(t);
        if (!this.#closed) this.#pump();
      },
      { unref: true },
    );
    this.#aheadTimers.add(t);
  }

  #yieldJob(job: Job): void {
    job.state = SETTLED;
    this.#queued--;
    if (job.onAbort !== undefined) job.signal!.removeEventListener('abort', job.onAbort);
    job.resolve(job.yieldValue);
  }

  #kind(spec: TaskSpec): Kind {
    let kind = this.#kindsBySpec.get(spec);
    if (kind !== undefined) return kind;
    const key = spec.source !== undefined ? `s:${spec.source}` : `m:${spec.module ?? ''}#${spec.export ?? ''}`;
    kind = this.#kindsByKey.get(key);
    if (kind === undefined) {
      kind = { key: this.#kindsByKey.size + 1, spec, estMs: NaN };
      this.#kindsByKey.set(key, kind);
    }
    this.#kindsBySpec.set(spec, kind);
    return kind;
  }

  /** The next queued job, skipping aborted ones, without removing it. */
  #peek(): Job | undefined {
    const q = this.#queue;
    while (this.#head < q.length) {
      const job = q[this.#head]!;
      if (job.state === QUEUED) return job;
      this.#head++;
    }
    if (this.#head > 0) {
      this.#queue = [];
      this.#head = 0;
    }
    return undefined;
  }

  #take(): Job {
    const job = this.#queue[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#queued--;
    return job;
  }

  #pump(): void {
    for (;;) {
      const first = this.#peek();
      if (first === undefined) return;
      // The capacity in effect now, on the workers' clock (this.size lags: it changes when
      // the timer fires), and the most slots in effect within AHEAD_MS: work for a slot due
      // back by then is sent now and waits in its worker for the instant.
      const now = this.#capacity.at();
      const slot = this.#pickSlot(first, Math.max(now, this.#capacity.at(AHEAD_MS)));
      if (slot === undefined) return;
      this.#send(slot, this.#fill(first), slot.index >= now);
    }
  }

  /**
   * An idle worker, a new one, or one that holds little work (for short tasks). While
   * `size` workers are busy only they get more work, and while more than `size` are (after
   * a `resize` down) none does.
   */
  #pickSlot(first: Job, size: number): Slot | undefined {
    // The busy worker holding the least work, with room for one more batch.
    let light: Slot | undefined;
    let lightMs = Infinity;
    const busy = this.busy;
    // Shrunk below the workers still busy: they finish what they hold, nothing more.
    if (busy > size) return undefined;
    const full = busy === size;
    for (const s of this.#slots) {
      if (s.batches.length === 0) {
        if (full) continue;
        return s;
      }
      if (s.batches.length < MAX_DEPTH) {
        const ms = heldMs(s);
        if (ms < lightMs) {
          light = s;
          lightMs = ms;
        }
      }
    }
    if (!full && this.#slots.length < size) return this.#spawn();
    if (first.solo) return undefined;
    // Short, measured tasks wait behind other work on a worker. So does a long one that can
    // be handed back (a range task's chunk, `yieldValue`), behind one batch: the worker
    // goes on to it without a round trip through this thread, which cost a chunk of 4 ms
    // up to a millisecond on a busy machine (a worker whose CPU is taken meanwhile hands it
    // back at once). Other long tasks wait here for the first free worker.
    if (first.kind.estMs < BATCH_MS) return lightMs < PIPELINE_MS ? light : undefined;
    return first.yieldValue !== undefined ? light : undefined;
  }

  /** Takes a batch from the queue head: about BATCH_MS of measured work, at least one job. */
  #fill(first: Job): Job[] {
    const jobs = [this.#take()];
    if (first.solo || !(first.kind.estMs < BATCH_MS)) return jobs;
    let ms = first.kind.estMs;
    for (let next = this.#peek(); next !== undefined && jobs.length < MAX_BATCH; next = this.#peek()) {
      const est = next.kind.estMs;
      if (next.solo || !(est < BATCH_MS) || ms + est > BATCH_MS) break;
      ms += est;
      jobs.push(this.#take());
    }
    return jobs;
  }

  #spawn(): Slot {
    let index = 0;
    while (this.#slots.some((s) => s.index === index)) index++;
    const worker = new Worker(WORKER_MAIN, { workerData: { node: this.#node, capacity: this.#capacity.buffer, index, pin: this.#pin } });
    const slot: Slot = { worker, index, batches: [], known: new Set(), busySince: null };
    worker.on('message', (msg: ResultMessage) => this.#onResult(slot, msg));
    worker.on('error', (err) => this.#onWorkerExit(slot, err));
    worker.on('exit', (code) => this.#onWorkerExit(slot, new Error(`worker thread exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  /** `ahead`: the slot is beyond the capacity in effect, and its CPU is due back shortly. */
  #send(slot: Slot, jobs: Job[], ahead: boolean): void {
    let defs: Array<[number, string | null, string | null, string | null]> | null = null;
    const keys: number[] = new Array<number>(jobs.length);
    const inputs: unknown[] = new Array<unknown>(jobs.length);
    let transfer: TransferListItem[] | undefined;
    let estMs = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      job.state = SENT;
      if (job.onAbort !== undefined) job.signal!.removeEventListener('abort', job.onAbort);
      const { kind } = job;
      if (!slot.known.has(kind.key)) {
        slot.known.add(kind.key);
        (defs ??= []).push([kind.key, kind.spec.module ?? null, kind.spec.export ?? null, kind.spec.source ?? null]);
      }
      keys[i] = kind.key;
      inputs[i] = job.input;
      if (job.transfer.length > 0) (transfer ??= []).push(...job.transfer);
      // Unmeasured work counts as heavy, so nothing short queues behind it.
      estMs += Number.isNaN(kind.estMs) ? PIPELINE_MS : kind.estMs;
    }
    const batch: Batch = { id: ++this.#batchSeq, jobs, estMs };
    try {
      // Sent ahead of a scheduled return: the worker starts it at the instant.
      slot.worker.postMessage([batch.id, defs, keys, inputs, ahead], transfer);
    } catch (e) {
      if (defs !== null) for (const d of defs) slot.known.delete(d[0]);
      if (jobs.length > 1) {
        // One of them cannot be sent: send each alone, at the front, to find it.
        for (const job of jobs) {
          job.state = QUEUED;
          job.solo = true;
        }
        this.#queue.splice(this.#head, 0, ...jobs);
        this.#queued += jobs.length;
        return;
      }
      const job = jobs[0]!;
      job.state = SETTLED;
      this.#completed++;
      job.reject(new TaskError(`task input cannot be sent to a worker thread on node ${this.#node}: ${(e as Error).message}`, { cause: e }));
      return;
    }
    if (slot.batches.length === 0) slot.busySince = process.hrtime.bigint();
    slot.batches.push(batch);
  }

  #onResult(slot: Slot, msg: ResultMessage): void {
    const [id, from, values, failed, ms, final] = msg;
    const batch = slot.batches.find((b) => b.id === id);
    if (batch === undefined) return;
    const n = values.length;
    if (n > 0) {
      const per = ms / n;
      let kind: Kind | undefined;
      for (let j = 0; j < n; j++) {
        const job = batch.jobs[from + j];
        if (job === undefined || job.state !== SENT) continue;
        if (job.kind !== kind) {
          kind = job.kind;
          kind.estMs = Number.isNaN(kind.estMs) ? per : kind.estMs * 0.5 + per * 0.5;
        }
        job.state = SETTLED;
        this.#completed++;
        if (failed.length > 0 && failed.includes(j)) job.reject(taskError(values[j], this.#node, job.kind.spec));
        else job.resolve(values[j]);
      }
    }
    if (final) {
      slot.batches.splice(slot.batches.indexOf(batch), 1);
      if (slot.batches.length === 0) this.#idle(slot);
      this.#pump();
    }
  }

  #idle(slot: Slot): void {
    if (slot.busySince !== null) this.#busyNs += process.hrtime.bigint() - slot.busySince;
    slot.busySince = null;
  }

  #onWorkerExit(slot: Slot, err: Error): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    this.#idle(slot);
    for (const batch of slot.batches.splice(0)) {
      for (const job of batch.jobs) {
        if (job.state !== SENT) continue;
        job.state = SETTLED;
        this.#completed++;
        job.reject(new TaskError(`worker thread on node ${this.#node} died while running a task: ${err.message}`, { cause: err }));
      }
    }
    if (!this.#closed) this.#pump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#aheadTimers) t.cancel();
    this.#aheadTimers.clear();
    const err = new ClosedError(`node ${this.#node} closed while the task waited for a worker`);
    for (let job = this.#peek(); job !== undefined; job = this.#peek()) {
      this.#take();
      job.state = SETTLED;
      if (job.onAbort !== undefined) job.signal!.removeEventListener('abort', job.onAbort);
      job.reject(err);
    }
    const slots = this.#slots.splice(0);
    await Promise.all(
      slots.map(async (s) => {
        for (const batch of s.batches.splice(0)) {
          for (const job of batch.jobs) {
            if (job.state !== SENT) continue;
            job.state = SETTLED;
            job.reject(new ClosedError(`node ${this.#node} closed while the task was running`));
          }
        }
        await s.worker.terminate();
      }),
    );
  }
}

type ResultMessage = [id: number, from: number, values: unknown[], failed: number[], ms: number, final: boolean];

/** Estimated milliseconds of work a worker holds. */
function heldMs(slot: Slot): number {
  let ms = 0;
  for (const b of slot.batches) ms += b.estMs;
  return ms;
}

function taskError(wire: unknown, node: string, spec: TaskSpec): Error {
  const inner = fromWireError(wire, { node });
  const what = spec.source !== undefined ? 'task function' : `task ${spec.export ?? '?'} (${spec.module ?? '?'})`;
  return new TaskError(`${what} failed on node ${node}: ${inner.name}: ${inner.message}`, { cause: inner, data: { node } });
}
