/**
 * Range operations: one worker message runs a task function over a whole range of
 * elements (map, filter, forEach or reduce), so a data-parallel job pays one round trip
 * per range instead of one per element. Used through {@link rangeTask}, like any module
 * task; the function it applies is loaded with the worker's own cache.
 *
 * Semantics: elements run one at a time, in order; a function that returns a promise is
 * awaited before the next element starts. The first element that throws ends the range:
 * the output names its source position (`start + offset`) and carries the error's wire
 * form, so the caller can fail the job with the position and the original error. A
 * non-zero `cancel` flag (an Int32Array on a SharedArrayBuffer) stops the range between
 * two elements. When the node's CPU capacity drops below this worker (another tenant took
 * the CPU), the range also stops between two elements and comes back `yielded`, with the
 * results of the elements it did; the caller hands the rest to a worker that has a CPU. Results that own their ArrayBuffers (e.g. fresh Uint8Arrays) are moved
 * back by transfer.
 *
 * @internal
 */
import { addTransferables, isThenable, loadedTask, loadTask, taskFailure, TransferResult } from './task-loader.js';
import type { WireError } from './errors.js';
import { cpuTaken } from './worker-env.js';
import type { TaskSpec } from './workers.js';

/** What a range task does with each element. */
export type RangeOp = 'map' | 'filter' | 'forEach' | 'reduce';

/** Input of a range task. */
export interface RangeInput {
  /** The function applied to each element: `fn(item, position)`, or `fn(acc, item, position)` to reduce. */
  fn: TaskSpec;
  /** The elements. */
  items: ArrayLike<unknown>;
  /** Source position of `items[0]`. */
  start: number;
  /** Initial accumulator (reduce). */
  init?: unknown;
  /** Stops the range between two elements when its first slot is non-zero. */
  cancel?: Int32Array;
}

/** Output of a range task. */
export interface RangeOutput {
  /** Elements processed. */
  n: number;
  /** Milliseconds the worker spent on them. */
  ms: number;
  /** map: one result per element; filter: the elements kept. */
  values?: unknown[];
  /** reduce: the accumulator after the last element. */
  acc?: unknown;
  /** The element that threw: its source position and the error's wire form. */
  error?: { index: number; error: WireError };
  /** True when the cancel flag stopped the range early. */
  cancelled?: boolean;
  /** True when the node's CPU was taken away: only the first `n` elements ran. */
  yielded?: boolean;
}

/** What a range task resolves with when its node's CPUs are taken before it starts. */
export const YIELDED_BEFORE_START: RangeOutput = Object.freeze({ n: 0, ms: 0, yielded: true });

const MODULE = new URL('./range-ops.js', import.meta.url).href;

/** The task spec of a range operation (run it with `runTask(rangeTask('map'), input)`). */
export function rangeTask(op: RangeOp): TaskSpec {
  return { module: MODULE, export: op };
}

/** Applies `fn` to every element; `values[i]` is its result. */
export function map(input: RangeInput): Promise<RangeOutput | TransferResult> {
  return runRange('map', input);
}

/** Keeps the elements for which `fn` returns a truthy value, in order. */
export function filter(input: RangeInput): Promise<RangeOutput | TransferResult> {
  return runRange('filter', input);
}

/** Calls `fn` on every element for its effects. */
export function forEach(input: RangeInput): Promise<RangeOutput | TransferResult> {
  return runRange('forEach', input);
}

/** Folds the elements into `acc = fn(acc, item, position)`, starting from `init`. */
export function reduce(input: RangeInput): Promise<RangeOutput | TransferResult> {
  return runRange('reduce', input);
}

async function runRange(op: RangeOp, input: RangeInput): Promise<RangeOutput | TransferResult> {
  const t0 = performance.now();
  const { items, start, cancel } = input;
  const n = items.length;
  let fn = loadedTask(input.fn);
  if (fn === undefined) {
    try {
      fn = await loadTask(input.fn);
    } catch (e) {
      return { n: 0, ms: performance.now() - t0, error: { index: start, error: taskFailure(e, input.fn) } };
    }
  }
  const values: unknown[] | undefined = op === 'map' ? new Array<unknown>(n) : op === 'filter' ? [] : undefined;
  let acc = input.init;
  let i = 0;
  try {
    for (; i < n; i++) {
      if (cancel !== undefined && Atomics.load(cancel, 0) !== 0) {
        return { n: i, ms: performance.now() - t0, cancelled: true };
      }
      if (cpuTaken()) break;
      const item = items[i];
      let r = op === 'reduce' ? fn(acc, item, start + i) : fn(item, start + i);
      if (isThenable(r)) r = await r;
      if (op === 'map') values![i] = r;
      else if (op === 'filter') {
        if (r) values!.push(item);
      } else if (op === 'reduce') acc = r;
    }
  } catch (e) {
    return { n: i, ms: performance.now() - t0, error: { index: start + i, error: taskFailure(e, input.fn) } };
  }
  const out: RangeOutput = { n: i, ms: performance.now() - t0 };
  if (i < n) {
    out.yielded = true;
    if (op === 'map') values!.length = i;
  }
  if (values !== undefined) out.values = values;
  if (op === 'reduce') out.acc = acc;
  // The results' own buffers move back (one level down: an array of results, or [acc]).
  const owned = addTransferables(op === 'reduce' ? [acc] : op === 'map' ? values! : [], new Set());
  return owned.size > 0 ? new TransferResult(out, [...owned]) : out;
}
