/**
 * Sinks: where a job's chunk results go. Chunks finish in any order; each sink restores
 * source order (by chunk start) before the result is visible: an array filled at the
 * chunks' positions, partial accumulators folded in order, or a queue fed strictly in
 * order as the chunks before a finished one complete.
 */
import type { RangeOutput } from '@quicksand/core/internal';
import type { ShardedQueue } from '@quicksand/queue';
import type { ShardedVector } from '@quicksand/vector';

/** @internal Receives chunk results and makes the job's result. */
export interface Sink {
  /** A chunk [start, end) finished. */
  put(start: number, end: number, out: RangeOutput): void;
  /** Positions finished and not yet delivered to the output (ordered outputs only). */
  readonly backlog: number;
  /** Every chunk is in (`total` positions): deliver the rest, return the job's result. */
  finish(total: number): Promise<unknown>;
  /** The job failed: release the output (a queue is closed if the job owns closing it). */
  abandon(): Promise<void>;
}

/** @internal map into an array: results land at their positions. */
export class ArraySink implements Sink {
  readonly backlog = 0;
  #out: unknown[] | null;
  readonly #chunks = new Map<number, unknown[]>();

  /** `length` when the source's length is known up front. */
  constructor(length: number | undefined) {
    this.#out = length === undefined ? null : new Array<unknown>(length);
  }

  put(start: number, _end: number, out: RangeOutput): void {
    const values = out.values ?? [];
    const dst = this.#out;
    if (dst === null) {
      this.#chunks.set(start, values);
      return;
    }
    for (let i = 0; i < values.length; i++) dst[start + i] = values[i];
  }

  finish(): Promise<unknown> {
    return Promise.resolve(this.#out ?? inOrder(this.#chunks));
  }

  abandon(): Promise<void> {
    this.#out = null;
    this.#chunks.clear();
    return Promise.resolve();
  }
}

/** @internal filter into an array: kept elements of each chunk, joined in order. */
export class ChunkListSink implements Sink {
  readonly backlog = 0;
  readonly #chunks = new Map<number, unknown[]>();

  put(start: number, _end: number, out: RangeOutput): void {
    this.#chunks.set(start, out.values ?? []);
  }

  finish(): Promise<unknown> {
    return Promise.resolve(inOrder(this.#chunks));
  }

  abandon(): Promise<void> {
    this.#chunks.clear();
    return Promise.resolve();
  }
}

/** @internal reduce: one partial accumulator per chunk, combined in source order. */
export class ReduceSink implements Sink {
  readonly backlog = 0;
  readonly #partials = new Map<number, unknown>();

  constructor(
    readonly init: unknown,
    readonly combine: (a: unknown, b: unknown) => unknown,
  ) {}

  put(start: number, _end: number, out: RangeOutput): void {
    this.#partials.set(start, out.acc);
  }

  finish(): Promise<unknown> {
    const partials = byStart(this.#partials);
    return Promise.resolve(partials.length === 0 ? this.init : partials.reduce((a, b) => this.combine(a, b)));
  }

  abandon(): Promise<void> {
    this.#partials.clear();
    return Promise.resolve();
  }
}

/** @internal forEach: nothing to keep. */
export class DiscardSink implements Sink {
  readonly backlog = 0;
  put(): void {}
  finish(): Promise<unknown> {
    return Promise.resolve(undefined);
  }
  abandon(): Promise<void> {
    return Promise.resolve();
  }
}

/** Values an ordered sink pushes at once, at most (more when one chunk holds more). */
const PUSH_MAX = 4_096;

/** @internal Where an ordered sink delivers: push in order, then close or not. */
export interface OrderedTarget {
  /** Appends values after everything pushed before; may wait (backpressure). */
  push(values: unknown[]): Promise<void>;
  /** All values are in: finish the output and give the job's result. */
  end(): Promise<unknown>;
  /** The job failed: release the output. */
  fail(): Promise<void>;
}

/**
 * @internal map or filter into a structure fed in order (a queue, a vector): a chunk's
 * results are pushed once every chunk before it has been pushed, one push at a time (of
 * every chunk ready in order by then), so the output sees source order. A push that
 * waits (a full queue) shows as a growing backlog, which holds back the hand-out of new
 * chunks.
 */
export class OrderedSink implements Sink {
  readonly #target: OrderedTarget;
  readonly #pending = new Map<number, { end: number; values: unknown[] }>();
  #emitAt = 0;
  #backlog = 0;
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #error: Error | null = null;
  readonly #onProgress: () => void;
  readonly #onError: (e: unknown) => void;

  constructor(target: OrderedTarget, onProgress: () => void, onError: (e: unknown) => void) {
    this.#target = target;
    this.#onProgress = onProgress;
    this.#onError = onError;
  }

  get backlog(): number {
    return this.#backlog;
  }

  put(start: number, end: number, out: RangeOutput): void {
    this.#pending.set(start, { end, values: out.values ?? [] });
    this.#backlog += end - start;
    this.#kick();
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    this.#idle = this.#emit();
  }

  async #emit(): Promise<void> {
    try {
      while (this.#error === null && this.#pending.has(this.#emitAt)) {
        // Every chunk ready in order goes in one push: a push is a round trip or two, and
        // while one is out more chunks finish (pushing them one by one capped a job's
        // output at a few chunks per round trip).
        const start = this.#emitAt;
        let end = start;
        let count = 0;
        const parts: unknown[][] = [];
        for (let next = this.#pending.get(end); next !== undefined && count < PUSH_MAX; next = this.#pending.get(end)) {
          this.#pending.delete(end);
          parts.push(next.values);
          count += next.values.length;
          end = next.end;
        }
        const values = parts.length === 1 ? parts[0]! : parts.flat();
        try {
          if (values.length > 0) await this.#target.push(values);
        } catch (e) {
          this.#error = e instanceof Error ? e : new Error(String(e));
          this.#onError(this.#error);
          return;
        }
        this.#emitAt = end;
        this.#backlog -= end - start;
        this.#onProgress();
      }
    } finally {
      // Same step as the last look at #pending: a chunk put after it starts a new run.
      this.#running = false;
    }
  }

  async finish(total: number): Promise<unknown> {
    this.#kick();
    while (this.#running) await this.#idle;
    if (this.#error !== null) throw this.#error;
    if (this.#emitAt < total) throw new Error(`internal: job output stopped at position ${this.#emitAt} of ${total}`);
    return await this.#target.end();
  }

  async abandon(): Promise<void> {
    this.#pending.clear();
    await this.#target.fail().catch(() => undefined);
  }
}

/** @internal An ordered target that pushes into a queue, closing it at the end if asked. */
export function queueTarget(queue: ShardedQueue<unknown>, close: boolean): OrderedTarget {
  // A failed job withdraws its pending push first: in a full queue nobody drains, that
  // push would wait for room forever, and so would `close` (it waits for this handle's
  // pushes).
  const withdraw = new AbortController();
  return {
    push: (values) => queue.pushAll(values, { signal: withdraw.signal }),
    end: async () => {
      if (close) await queue.close();
      return queue;
    },
    fail: async () => {
      withdraw.abort();
      if (close) await queue.close();
    },
  };
}

/** @internal An ordered target that appends to a vector; one the job created is destroyed if it fails. */
export function vectorTarget(vector: ShardedVector<unknown>, created: boolean): OrderedTarget {
  return {
    push: async (values) => {
      await vector.pushAll(values);
    },
    end: () => Promise.resolve(vector),
    fail: async () => {
      if (created) await vector.destroy();
    },
  };
}

/** The values of a map keyed by chunk start, in start order. */
function byStart<T>(chunks: Map<number, T>): T[] {
  return [...chunks.keys()].sort((a, b) => a - b).map((start) => chunks.get(start)!);
}

/** Values of chunks keyed by start, joined in start order. */
function inOrder(chunks: Map<number, unknown[]>): unknown[] {
  const out: unknown[] = [];
  for (const values of byStart(chunks)) for (let i = 0; i < values.length; i++) out.push(values[i]);
  return out;
}
