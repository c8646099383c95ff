/**
 * A node's compute slots: one worker thread per `cpus`, started on first use. Tasks are
 * named by module URL and export name (or shipped as the source of a self-contained
 * function) so every node runs the same code. Bulk data crosses by transfer: inputs with
 * the caller's transfer list, results by transferring every ArrayBuffer a result owns
 * outright (top level, or one level inside an array or object).
 *
 * Semantics: each worker runs one task at a time; tasks queue FIFO per node.
 * Not handled: a task that never returns holds its worker until the pool closes.
 */
import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AbortedError, ClosedError, TaskError, fromWireError } from './errors.js';

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
export function taskFromFunction(fn: (input: never) => unknown): TaskSpec {
  if (typeof fn !== 'function') throw new TypeError('task must be a function');
  const source = Function.prototype.toString.call(fn);
  if (source.includes('[native code]')) throw new TypeError('a native or bound function cannot be shipped as a task; export it from a module and use a module task');
  return { source };
}

interface Job {
  id: number;
  spec: TaskSpec;
  input: unknown;
  transfer: readonly TransferListItem[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  ready: boolean;
}

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);

/** @internal One node's worker threads. */
export class WorkerPool {
  /** Compute slots: at most this many tasks run at once (changed by `resize`). */
  size: number;
  readonly #node: string;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #seq = 0;
  #closed = false;
  #busyNs = 0n;
  #busySince = new Map<Slot, bigint>();
  #completed = 0;

  constructor(size: number, node: string) {
    this.size = size;
    this.#node = node;
  }

  /** Workers running a task now. */
  get busy(): number {
    let n = 0;
    for (const s of this.#slots) if (s.job !== null) n++;
    return n;
  }

  /** Tasks waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Tasks finished since start. */
  get completed(): number {
    return this.#completed;
  }

  /** Total worker busy time, in milliseconds, including tasks running now. */
  busyMs(): number {
    let ns = this.#busyNs;
    const now = process.hrtime.bigint();
    for (const t of this.#busySince.values()) ns += now - t;
    return Number(ns) / 1e6;
  }

  run(spec: TaskSpec, input: unknown, options: RunTaskOptions = {}): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError(`node ${this.#node} is closed; its workers no longer take tasks`));
    if (options.signal?.aborted === true) return Promise.reject(new AbortedError('task aborted before it started'));
    return new Promise((resolve, reject) => {
      const job: Job = { id: ++this.#seq, spec, input, transfer: options.transfer ?? [], resolve, reject, signal: options.signal };
      if (job.signal !== undefined) {
        job.signal.addEventListener('abort', () => {
          const i = this.#queue.indexOf(job);
          if (i >= 0) {
            this.#queue.splice(i, 1);
            reject(new AbortedError('task aborted while waiting for a worker'));
          }
        }, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  /**
   * Changes the number of compute slots. Fewer: running tasks finish, and no new task
   * starts until fewer than `size` run. More: queued tasks start at once.
   */
  resize(size: number): void {
    this.size = size;
    this.#pump();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      if (this.busy >= this.size) return;
      let slot = this.#slots.find((s) => s.job === null);
      if (slot === undefined) {
        if (this.#slots.length >= this.size) return;
        slot = this.#spawn();
      }
      const job = this.#queue.shift()!;
      this.#start(slot, job);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_MAIN, { workerData: { node: this.#node } });
    const slot: Slot = { worker, job: null, ready: true };
    worker.on('message', (msg: [number, boolean, unknown]) => this.#onResult(slot, msg));
    worker.on('error', (err) => this.#onWorkerExit(slot, err));
    worker.on('exit', (code) => this.#onWorkerExit(slot, new Error(`worker thread exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #start(slot: Slot, job: Job): void {
    slot.job = job;
    this.#busySince.set(slot, process.hrtime.bigint());
    const { spec } = job;
    try {
      slot.worker.postMessage([job.id, spec.module ?? null, spec.export ?? null, spec.source ?? null, job.input], job.transfer as TransferListItem[]);
    } catch (e) {
      this.#finish(slot);
      job.reject(new TaskError(`task input cannot be sent to a worker thread on node ${this.#node}: ${(e as Error).message}`, { cause: e }));
      this.#pump();
    }
  }

  #finish(slot: Slot): void {
    const since = this.#busySince.get(slot);
    if (since !== undefined) this.#busyNs += process.hrtime.bigint() - since;
    this.#busySince.delete(slot);
    slot.job = null;
    this.#completed++;
  }

  #onResult(slot: Slot, msg: [number, boolean, unknown]): void {
    const job = slot.job;
    if (job === null || job.id !== msg[0]) return;
    this.#finish(slot);
    if (msg[1]) job.resolve(msg[2]);
    else job.reject(taskError(msg[2], this.#node, job.spec));
    this.#pump();
  }

  #onWorkerExit(slot: Slot, err: Error): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    const job = slot.job;
    if (job !== null) {
      this.#finish(slot);
      job.reject(new TaskError(`worker thread on node ${this.#node} died while running a task: ${err.message}`, { cause: err }));
    }
    if (!this.#closed) this.#pump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const err = new ClosedError(`node ${this.#node} closed while the task waited for a worker`);
    for (const job of this.#queue.splice(0)) job.reject(err);
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map(async (s) => {
      if (s.job !== null) s.job.reject(new ClosedError(`node ${this.#node} closed while the task was running`));
      await s.worker.terminate();
    }));
  }
}

function taskError(wire: unknown, node: string, spec: TaskSpec): Error {
  const inner = fromWireError(wire, { node });
  const what = spec.source !== undefined ? 'task function' : `task ${spec.export ?? '?'} (${spec.module ?? '?'})`;
  const err = new TaskError(`${what} failed on node ${node}: ${inner.name}: ${inner.message}`, { cause: inner, data: { node } });
  return err;
}
