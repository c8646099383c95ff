/**
 * Tasks: what a pool's workers run, named by module URL and export name, or shipped as
 * the source of a self-contained function. The type parameters only help the compiler:
 * nothing checks at run time that a module's function takes `In` and returns `Out`.
 */
import { taskFromFunction, taskSpec } from '@quicksand/core';
import type { TaskSpec } from '@quicksand/core';

declare const TYPES: unique symbol;

/**
 * A task a pool can run: `In` is the type of its (first) argument, `Out` of its result.
 * Make one with {@link ThreadPool.task}.
 */
export interface Task<In = unknown, Out = unknown> {
  /** What the worker threads load and call. */
  readonly spec: TaskSpec;
  /** Carries the type parameters; never set. */
  readonly [TYPES]?: (input: In) => Out;
}

const fromFunctions = new WeakMap<object, Task>();

/** @internal Names an exported function of a module as a task. */
export function moduleTask<In, Out>(module: string | URL, exportName: string): Task<In, Out> {
  return Object.freeze({ spec: taskSpec(module, exportName) });
}

/** @internal A task from a self-contained function (cached per function). */
export function functionTask<In, Out>(fn: (...args: never[]) => unknown): Task<In, Out> {
  let task = fromFunctions.get(fn);
  if (task === undefined) {
    task = Object.freeze({ spec: taskFromFunction(fn) });
    fromFunctions.set(fn, task);
  }
  return task as Task<In, Out>;
}

/**
 * @internal The spec of a task or function passed by a user.
 * @throws TypeError naming `what` when it is neither.
 */
export function specOf(task: unknown, what: string): TaskSpec {
  if (typeof task === 'function') return functionTask(task as (...args: never[]) => unknown).spec;
  if (typeof task === 'object' && task !== null) {
    const spec = (task as { spec?: unknown }).spec;
    if (typeof spec === 'object' && spec !== null) {
      const s = spec as TaskSpec;
      if (typeof s.source === 'string' || (typeof s.module === 'string' && typeof s.export === 'string')) return s;
    }
  }
  throw new TypeError(`${what} must be a task from pool.task(module, exportName) or a self-contained function`);
}
