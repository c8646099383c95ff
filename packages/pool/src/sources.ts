/**
 * Sources: what a job reads its elements from. Every source is one of two shapes:
 * - **ranged**: a known length and random access by position range (arrays, typed
 *   arrays, sharded vectors). Ranges can be cut, handed out and stolen. The elements of
 *   an array travel with each chunk; those of a sharded vector are read by the runner
 *   itself, from the shards, and the job knows which node holds which positions.
 * - **stream**: elements arrive in order and the length is known only at the end
 *   (async and sync iterables, queues). A job pulls them into a bounded buffer and hands
 *   out chunks from its front.
 * Positions are the elements' order in the source; results keep that order.
 */
import type { Cluster } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { ShardedVector } from '@quicksand/vector';

/**
 * What `map`, `filter`, `forEach` and `reduce` read: an array, a typed array, a
 * `ShardedVector`, a `ShardedQueue`, or any iterable or async iterable (a `ShardedMap`
 * gives its `[key, value]` entries, a `ShardedSet` its keys).
 */
export type PoolSource<T> = readonly T[] | ArrayLike<T> | ShardedVector<T> | ShardedQueue<T> | Iterable<T> | AsyncIterable<T>;

/** @internal How a runner reads a range of a source on its own node. */
export interface RemoteRead {
  /** A sharded vector, by name. */
  readonly vector: string;
}

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
  /** How runners read a range themselves (when `slice` is absent). */
  readonly read?: RemoteRead;
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
export async function toSource(source: unknown): Promise<Source> {
  if (source instanceof ShardedVector) return await vectorSource(source as ShardedVector<unknown>);
  if (Array.isArray(source)) return sliceSource(source);
  if (ArrayBuffer.isView(source) && !(source instanceof DataView)) return sliceSource(source as unknown as TypedArray);
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

/** An array or typed array: chunks are slices (a typed array's slice is a fresh buffer, moved to the worker). */
function sliceSource(xs: { readonly length: number; slice(start: number, end: number): ArrayLike<unknown> }): RangedSource {
  return { kind: 'ranged', length: xs.length, slice: (s, e) => xs.slice(s, e) };
}

/** The positions of a vector as its shards hold them now; runners read them from the shards. */
async function vectorSource(v: ShardedVector<unknown>): Promise<RangedSource> {
  const length = await v.length();
  const [parts, shards] = await Promise.all([v.range(0, length).placement(), v.shards()]);
  let bytes = 0;
  let count = 0;
  for (const s of shards) {
    bytes += s.bytes;
    count += s.count;
  }
  return {
    kind: 'ranged',
    length,
    bytesPerItem: count > 0 ? Math.max(1, bytes / count) : 8,
    placement: parts.map((p) => ({ lo: p.start, hi: p.end, node: p.node })),
    read: { vector: v.name },
  };
}

const vectors = new WeakMap<Cluster, Map<string, Promise<ShardedVector<unknown>>>>();

/** @internal Reads [start, end) of a source the way `read` says, from `cluster` (a runner's view). */
export async function readRange(cluster: Cluster, read: RemoteRead, start: number, end: number): Promise<unknown[]> {
  let open = vectors.get(cluster);
  if (open === undefined) vectors.set(cluster, (open = new Map()));
  let v = open.get(read.vector);
  if (v === undefined) {
    v = ShardedVector.open<unknown>(cluster, read.vector);
    open.set(read.vector, v);
    v.catch(() => open.delete(read.vector));
  }
  return await (await v).range(start, end).toArray();
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
