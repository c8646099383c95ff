/**
 * Runs inside a compute worker thread: loads task functions (module exports, cached per
 * module and export; shipped sources, cached per source text), explains the errors they
 * throw, and lets a result name the buffers to transfer back. Shared by the worker's
 * message loop (`worker-main.ts`) and the range operations (`range-ops.ts`), which see
 * the same caches because a worker imports each module once.
 *
 * @internal
 */
import { toWireError } from './errors.js';
import type { WireError } from './errors.js';
import type { TaskSpec } from './workers.js';

/** A loaded task function. */
export type TaskFn = (...args: unknown[]) => unknown;

const modules = new Map<string, Record<string, unknown>>();
const fns = new Map<string, TaskFn>();

/** The cache key of a task spec: its source text, or module URL and export name. */
export function specKey(spec: TaskSpec): string {
  return spec.source !== undefined ? `s:${spec.source}` : `m:${spec.module ?? ''}#${spec.export ?? ''}`;
}

/** The function of `spec` when it is already loaded in this worker, else undefined. */
export function loadedTask(spec: TaskSpec): TaskFn | undefined {
  return fns.get(specKey(spec));
}

/**
 * Loads the function a spec names.
 * @throws TypeError when the source is not a function or the module lacks the export.
 */
export async function loadTask(spec: TaskSpec): Promise<TaskFn> {
  const key = specKey(spec);
  const cached = fns.get(key);
  if (cached !== undefined) return cached;
  let fn: TaskFn;
  if (spec.source !== undefined) {
    // Indirect eval: the function sees only globals, never this module's scope.
    const value: unknown = (0, eval)(`(${spec.source})`);
    if (typeof value !== 'function') throw new TypeError('task source does not evaluate to a function');
    fn = value as TaskFn;
  } else {
    const { module, export: name } = spec;
    if (module === undefined || name === undefined) throw new TypeError('task names neither a module export nor a source');
    let mod = modules.get(module);
    if (mod === undefined) {
      mod = (await import(module)) as Record<string, unknown>;
      modules.set(module, mod);
    }
    const value = mod[name];
    if (typeof value !== 'function') throw new TypeError(`module ${module} has no exported function '${name}' (exports: ${Object.keys(mod).join(', ') || 'none'})`);
    fn = value as TaskFn;
  }
  fns.set(key, fn);
  return fn;
}

/**
 * The wire form of an error a task threw. A shipped function that reads a variable from
 * outside itself fails with a ReferenceError; the message then says why and what to do.
 */
export function taskFailure(e: unknown, spec: TaskSpec): WireError {
  let err = e;
  if (spec.source !== undefined && e instanceof ReferenceError) {
    err = new ReferenceError(`${e.message}: a task function shipped as source cannot use variables from outside it; pass what it needs in its input, or export the function from a module and use a module task`);
  }
  return toWireError(err);
}

/** A task result that names the buffers to move back to the caller instead of copying them. */
export class TransferResult {
  constructor(
    readonly value: unknown,
    readonly transfer: ArrayBuffer[],
  ) {}
}

/**
 * The ArrayBuffer `v` owns outright, which can be moved to another thread without
 * taking anything else along: `v` itself, or the buffer of a view spanning all of it.
 * Undefined when there is none, or it is empty.
 */
export function ownBuffer(v: unknown): ArrayBuffer | undefined {
  let b: ArrayBuffer | undefined;
  if (v instanceof ArrayBuffer) b = v;
  else if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) b = v.buffer;
  return b !== undefined && b.byteLength > 0 ? b : undefined;
}

/**
 * Adds to `out` the buffers `value` owns outright, at top level or one level down (its
 * array elements, or its property values): what a task input or result can move instead
 * of copying. Returns `out`.
 */
export function addTransferables(value: unknown, out: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (value === null || typeof value !== 'object') return out;
  const own = ownBuffer(value);
  if (own !== undefined) out.add(own);
  else if (Array.isArray(value)) for (const x of value as unknown[]) addOwn(x, out);
  else if (!ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) for (const x of Object.values(value)) addOwn(x, out);
  return out;
}

function addOwn(v: unknown, out: Set<ArrayBuffer>): void {
  const b = ownBuffer(v);
  if (b !== undefined) out.add(b);
}

/** True when `v` has a callable `then`. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}
