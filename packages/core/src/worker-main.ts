/**
 * The body of every compute worker thread. Each message is a batch of tasks; the worker
 * runs them one at a time, in order, and posts their results back, transferring the
 * ArrayBuffers the results own. A batch that runs long reports its finished tasks every
 * few milliseconds instead of holding them to the end.
 *
 * Message in:  `[batchId, defs | null, keys, inputs, ahead]`, where `defs` lists
 *              `[key, module, export, source]` for task kinds this worker has not seen,
 *              and task `i` runs the kind `keys[i]` on `inputs[i]`; `ahead`: sent before
 *              a scheduled return of this worker's CPU, so it waits for that instant.
 * Message out: `[batchId, from, values, failed, ms, final]`: results of tasks
 *              `from .. from + values.length - 1`; `failed` lists the offsets (into
 *              `values`) whose value is a wire error; `ms` is the time spent running them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { workerSlot } from './worker-env.js';
import { SharedCapacity } from './capacity.js';
import { pinThread } from './affinity.js';
import { addTransferables, isThenable, loadTask, taskFailure, TransferResult } from './task-loader.js';
import type { TaskFn } from './task-loader.js';
import type { TaskSpec } from './workers.js';

/** A batch that has run this long posts what it finished so far. */
const FLUSH_MS = 2;

type Def = [key: number, module: string | null, exportName: string | null, source: string | null];
type BatchMessage = [id: number, defs: Def[] | null, keys: number[], inputs: unknown[], ahead: boolean];

interface Run {
  id: number;
  keys: number[];
  inputs: unknown[];
  i: number;
  from: number;
  values: unknown[];
  failed: number[];
  transfer: Set<ArrayBuffer>;
  since: number;
}

const specs = new Map<number, TaskSpec>();
const fnByKey = new Map<number, TaskFn>();
const pending: BatchMessage[] = [];
let draining = false;

const data = workerData as { node?: string; capacity?: SharedArrayBuffer; index?: number; pin?: string | null } | null;
if (data?.capacity instanceof SharedArrayBuffer) workerSlot.capacity = new SharedCapacity(data.capacity);
if (typeof data?.index === 'number') workerSlot.index = data.index;
if (typeof data?.pin === 'string') {
  // The node checked the list when it started; a worker that still cannot pin itself runs
  // unpinned rather than not at all, and says so on the node's stderr.
  try {
    pinThread(data.pin);
  } catch (e) {
    process.stderr.write(`quicksand: a compute worker of node ${data.node ?? '?'} runs unpinned: ${(e as Error).message}\n`);
  }
}

const port = parentPort;
if (port === null) throw new Error('worker-main must run in a worker thread');

port.on('message', (msg: BatchMessage) => {
  pending.push(msg);
  if (!draining) drain();
});

function drain(): void {
  draining = true;
  while (pending.length > 0) {
    const msg = pending.shift()!;
    const [id, defs, keys, inputs, ahead] = msg;
    // Sent ahead of a scheduled return of this worker's CPU: start at that instant.
    if (ahead) workerSlot.capacity?.waitForCpu(workerSlot.index);
    if (defs !== null) {
      for (const [key, module, name, source] of defs) {
        specs.set(key, source !== null ? { source } : { module: module ?? undefined, export: name ?? undefined });
      }
    }
    const run: Run = { id, keys, inputs, i: 0, from: 0, values: [], failed: [], transfer: new Set(), since: performance.now() };
    const wait = step(run);
    if (wait !== undefined) {
      // An async task or a module still loading: carry on with the queue afterwards.
      void wait.then(drain);
      return;
    }
  }
  draining = false;
}

/** Runs tasks of `run` until it ends (returns undefined) or must wait (returns the wait). */
function step(run: Run): Promise<void> | undefined {
  const { keys, inputs } = run;
  while (run.i < keys.length) {
    const key = keys[run.i]!;
    const fn = fnByKey.get(key);
    if (fn === undefined) return load(run, key);
    let r: unknown;
    try {
      r = fn(inputs[run.i]);
    } catch (e) {
      fail(run, key, e);
      continue;
    }
    if (isThenable(r)) return settle(run, key, r);
    done(run, r);
  }
  flush(run, true);
  return undefined;
}

async function load(run: Run, key: number): Promise<void> {
  const spec = specs.get(key);
  try {
    if (spec === undefined) throw new Error(`worker has no definition for task kind ${key}`);
    fnByKey.set(key, await loadTask(spec));
  } catch (e) {
    fail(run, key, e);
  }
  return step(run);
}

async function settle(run: Run, key: number, r: PromiseLike<unknown>): Promise<void> {
  let v: unknown;
  try {
    v = await r;
  } catch (e) {
    fail(run, key, e);
    return step(run);
  }
  done(run, v);
  return step(run);
}

function done(run: Run, r: unknown): void {
  if (r instanceof TransferResult) {
    run.values.push(r.value);
    for (const b of r.transfer) run.transfer.add(b);
  } else {
    run.values.push(r);
    addTransferables(r, run.transfer);
  }
  run.inputs[run.i++] = undefined;
  if (run.i < run.keys.length && performance.now() - run.since >= FLUSH_MS) flush(run, false);
}

function fail(run: Run, key: number, e: unknown): void {
  run.failed.push(run.values.length);
  run.values.push(taskFailure(e, specs.get(key) ?? {}));
  run.inputs[run.i++] = undefined;
}

function flush(run: Run, final: boolean): void {
  const now = performance.now();
  try {
    port!.postMessage([run.id, run.from, run.values, run.failed, now - run.since, final], [...run.transfer]);
  } catch {
    flushEach(run, final, now - run.since);
  }
  run.from = run.i;
  run.values = [];
  run.failed = [];
  run.transfer = new Set();
  run.since = now;
}

/** A result could not be posted: post them one by one, failing those that cannot cross. */
function flushEach(run: Run, final: boolean, ms: number): void {
  const n = run.values.length;
  for (let j = 0; j < n; j++) {
    const last = final && j === n - 1;
    const value = run.values[j];
    const failed = run.failed.includes(j) ? [0] : [];
    const transfer = failed.length === 0 ? [...addTransferables(value, new Set())] : [];
    try {
      port!.postMessage([run.id, run.from + j, [value], failed, ms / n, last], transfer);
    } catch (e) {
      const err = new TypeError(`task result cannot be sent back from the worker thread: ${(e as Error).message}; return plain data (objects, arrays, strings, numbers, typed arrays)`);
      port!.postMessage([run.id, run.from + j, [taskFailure(err, {})], [0], ms / n, last]);
    }
  }
}
