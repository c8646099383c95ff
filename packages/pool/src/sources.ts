/**
 * Sources: what a job reads its elements from. Every source is one of two shapes:
 * - **ranged**: a known length and random access by position range (arrays, typed
 *   arrays; later sharded vectors). Ranges can be cut, handed out and stolen.
 * - **stream**: elements arrive in order and the length is known only at the end
 *   (async and sync iterables, queues). A job pulls them into a bounded buffer and hands
 *   out chunks from its front.
 * Positions are the elements' order in the source; results keep that order.
 */
import { ShardedQueue } from '@quicksand/queue';

/** What `map`, `filter`, `forEach` and `reduce` read: an array, a typed array, a queue, or any (async) iterable. */
export type PoolSource<T> = readonly T[] | ArrayLike<T> | ShardedQueue<T> | Iterable<T> | AsyncIterable<T>;

/** @internal A source with a known length and random access. */
export interface RangedSource {
  readonly kind: 'ranged';
  readonly length: number;
  /** The elements of [start, end), as an array or a fresh typed array; absent when runners read them. */
  slice?(start: number, end: number): ArrayLike<unknown>;
  /** Estimated bytes of one element, when `slice` is absent (otherwise sampled). */
  readonly bytesPerItem?: number;
  /** Which node holds which positions, when the data lives in the cluster. */
  readonly placement?: ReadonlyArray<{ lo: number; hi: number; node: string | undefined }>;
}

/** @internal A source read front to back. */
export interface StreamSource {
  readonly kind: 'stream';
  /** Up to `max` next elements, waiting for at least one; null at the end. */
  next(max: number, signal: AbortSignal): Promise<unknown[] | null>;
  /** Stops reading early (job failed or aborted). */
  stop(): void;
}

/** @internal */
export type Source = RangedSource | StreamSource;

/**
 * @internal Adapts what a user passed.
 * @throws TypeError when it is not a source.
 */
export function toSource(source: unknown): Source {
  if (Array.isArray(source)) return arraySource(source);
  if (ArrayBuffer.isView(source) && !(source instanceof DataView)) return typedSource(source as unknown as TypedArray);
  if (source instanceof ShardedQueue) return queueSource(source as ShardedQueue<unknown>);
  if (typeof source === 'object' && source !== null) {
    if (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return iteratorSource((source as AsyncIterable<unknown>)[Symbol.asyncIterator]());
    if (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') return iteratorSource((source as Iterable<unknown>)[Symbol.iterator]());
  }
  throw new TypeError('source must be an array, a typed array, a ShardedQueue, or an iterable or async iterable');
}

interface TypedArray extends ArrayLike<number | bigint> {
  slice(start: number, end: number): TypedArray;
}

function arraySource(xs: readonly unknown[]): RangedSource {
  return { kind: 'ranged', length: xs.length, slice: (s, e) => xs.slice(s, e) };
}

function typedSource(xs: TypedArray): RangedSource {
  // slice copies into a fresh buffer, which can then be moved to a worker by transfer.
  return { kind: 'ranged', length: xs.length, slice: (s, e) => xs.slice(s, e) };
}

function queueSource(q: ShardedQueue<unknown>): StreamSource {
  return {
    kind: 'stream',
    async next(max, signal) {
      const xs = await q.popMany(max, { signal });
      return xs.length === 0 ? null : xs;
    },
    stop() {},
  };
}

function iteratorSource(it: Iterator<unknown> | AsyncIterator<unknown>): StreamSource {
  let ended = false;
  /** A step asked for and not arrived yet: the next call starts with it. */
  let carry: Promise<IteratorResult<unknown>> | null = null;
  return {
    kind: 'stream',
    async next(max) {
      if (ended) return null;
      const out: unknown[] = [];
      while (out.length < max) {
        const r = carry ?? it.next();
        carry = null;
        let step: IteratorResult<unknown>;
        if (isPromise(r)) {
          // What arrived so far goes out as soon as the next element is not there yet.
          const quick = out.length === 0 ? await r : await raceTurn(r);
          if (quick === undefined) {
            carry = r;
            break;
          }
          step = quick;
        } else {
          step = r;
        }
        if (step.done === true) {
          ended = true;
          break;
        }
        out.push(step.value);
      }
      return out.length === 0 && ended ? null : out;
    },
    stop() {
      if (ended) return;
      ended = true;
      void Promise.resolve(it.return?.()).catch(() => undefined);
    },
  };
}

function isPromise(x: unknown): x is Promise<IteratorResult<unknown>> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** The step if it settles before the next turn of the event loop, else undefined. */
async function raceTurn(p: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown> | undefined> {
  return await Promise.race([p, new Promise<undefined>((r) => setImmediate(r, undefined))]);
}
