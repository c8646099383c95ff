/**
 * The runner: the pool's compute proclet. It lives on a node with CPUs and runs what the
 * job coordinators send it on that node's worker threads: single tasks (`run`) and
 * chunks of a job (`exec`: one worker message applies the task to a whole range of
 * elements).
 *
 * Semantics: `cancel(job)` stops the job's chunks on this runner between two elements
 * (a flag shared with the worker threads) and drops those still waiting for a worker;
 * chunks of a cancelled job that arrive later return `cancelled` at once.
 *
 * Not handled: a task that never returns holds its worker until the cluster closes.
 */
import { setMaxListeners } from 'node:events';
import { contextOf, defineProclet } from '@quicksand/core';
import type { TaskSpec } from '@quicksand/core';
import { YIELDED_BEFORE_START, addTransferables, ownBuffer, rangeTask } from '@quicksand/core/internal';
import type { RangeInput, RangeOp, RangeOutput } from '@quicksand/core/internal';
import { readRange } from './sources.js';
import type { RemoteRead } from './sources.js';

/** @internal One chunk of a job. */
export interface ExecRequest {
  /** Job id, for cancellation. */
  job: string;
  op: RangeOp;
  fn: TaskSpec;
  /** Source position of the first element. */
  start: number;
  /** The elements, or none when `read` says where this runner reads them. */
  items: ArrayLike<unknown>;
  /** Read [start, end) of this source here (sharded sources). */
  read?: RemoteRead;
  /** End of the range to read (with `read`). */
  end?: number;
  /** Initial accumulator (reduce). */
  init?: unknown;
}

interface JobState {
  flag: Int32Array;
  /**
   * Aborted when the job is cancelled here or this runner starts to move: what its chunks
   * waiting for a worker listen to. A move replaces it, so that chunks after a move that
   * failed run here again. (One controller, not `AbortSignal.any` of two per chunk: that
   * costs about 15 µs a call on Node 20, on the node's main thread.)
   */
  abort: AbortController;
}

/** Cancelled job ids remembered, so that late chunks do not run. */
const MAX_CANCELLED = 1024;

/** @internal The pool's compute proclet. */
export class Runner {
  readonly #jobs = new Map<string, JobState>();
  readonly #cancelled = new Set<string>();
  /** Moves of this runner begun so far: a chunk that sees it change was caught by one. */
  #moves = 0;

  /**
   * Kernel hook: a migration of this runner begins. Chunks still waiting for a worker
   * (its node's CPU may be taken) come back unstarted, so the move does not wait for them.
   * Chunks that come after wait for the move and run on this instance only if it failed:
   * they get fresh controllers, or a runner whose move failed would hand back every chunk.
   */
  _onMigrate(): void {
    this.#moves++;
    for (const st of this.#jobs.values()) {
      const moving = st.abort;
      st.abort = newAbort();
      moving.abort();
    }
  }

  /** Runs one task on a worker of this node; `transfer` moves the input's own buffers. */
  run(spec: TaskSpec, input: unknown, transfer: boolean): Promise<unknown> {
    return contextOf(this).runTask(spec, input, transfer ? { transfer: [...addTransferables(input, new Set())] } : undefined);
  }

  /** Runs one chunk of a job on a worker of this node. */
  async exec(req: ExecRequest): Promise<RangeOutput> {
    if (this.#cancelled.has(req.job)) return { n: 0, ms: 0, cancelled: true };
    // A move that begins while this chunk reads its range hands the chunk back too.
    const moves = this.#moves;
    let st = this.#jobs.get(req.job);
    if (st === undefined) {
      st = { flag: new Int32Array(new SharedArrayBuffer(4)), abort: newAbort() };
      this.#jobs.set(req.job, st);
    }
    const items = req.read === undefined ? req.items : await readRange(contextOf(this).cluster, req.read, req.start, req.end ?? req.start);
    if (this.#cancelled.has(req.job)) return { n: 0, ms: 0, cancelled: true };
    if (moves !== this.#moves) return YIELDED_BEFORE_START;
    const input: RangeInput = { fn: req.fn, items, start: req.start, cancel: st.flag };
    if (req.op === 'reduce') input.init = req.init;
    const own = ownBuffer(items);
    try {
      return await contextOf(this).runTask<RangeOutput>(rangeTask(req.op), input, { signal: st.abort.signal, transfer: own !== undefined ? [own] : [], yieldValue: YIELDED_BEFORE_START });
    } catch (e) {
      if (this.#cancelled.has(req.job)) return { n: 0, ms: 0, cancelled: true };
      if (moves !== this.#moves) return YIELDED_BEFORE_START;
      throw e;
    }
  }

  /** Stops the job's chunks here: running ones between two elements, queued ones at once. */
  cancel(job: string): void {
    const st = this.#jobs.get(job);
    this.#jobs.delete(job);
    this.#cancelled.add(job);
    if (this.#cancelled.size > MAX_CANCELLED) this.#cancelled.delete(this.#cancelled.values().next().value!);
    if (st !== undefined) {
      Atomics.store(st.flag, 0, 1);
      st.abort.abort();
    }
  }

  /** Forgets a job that ended. */
  finish(job: string): void {
    this.#jobs.delete(job);
  }

  /** The node this runner is on. */
  where(): string {
    return contextOf(this).node;
  }
}

/** @internal */
export const RunnerType = defineProclet('quicksand.pool.Runner', Runner, {
  kind: 'compute',
  module: import.meta.url,
  // A runner keeps no state worth moving: a moved runner starts afresh.
  save: () => ({}),
  restore: () => new Runner(),
});

/** A job's controller on a runner; every chunk waiting for a worker listens to it, and a busy runner may hold many. */
function newAbort(): AbortController {
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  return abort;
}
