/**
 * The vector's shard: a memory proclet holding the elements of one index range
 * `[lo, hi)` in a plain array. Every shard but the last is full (`hi - lo` elements); the
 * last one (the tail) owns `[lo, END)` and holds the elements from `lo` to the length.
 *
 * Split: the tail seals itself once it holds three quarters of `maxShardBytes` (its
 * elements stay, a new empty tail takes over from the current length, so appends move
 * no data and sealed shards keep room for updates that grow elements); any other shard,
 * and a forced split, cuts in the middle of its elements. Merge: a neighbour's elements
 * are prepended or appended. Appends from `pushAll` carry a stream id and sequence
 * number; the tail applies them strictly in sequence (see `TailAppender`), and the stream
 * table moves with the tail when it seals or merges.
 */
import { defineProclet } from '@quicksand/core';
import { END, ShardBase, estimateBytes } from '@quicksand/shard/internal';
import type { ScanBlock, ShardBaseState, ShardType } from '@quicksand/shard/internal';

/** Streams remembered by a tail at most; the oldest is forgotten beyond this. */
const MAX_STREAMS = 4096;

interface VectorPayload {
  items: unknown[];
  streams: Record<string, number>;
}

interface VectorState extends ShardBaseState {
  items: unknown[];
  streams: Record<string, number>;
}

function bytesOf(items: unknown[]): number {
  let n = 0;
  for (let i = 0; i < items.length; i++) n += estimateBytes(items[i]);
  return n;
}

/** @internal A shard of a ShardedVector. */
export class VectorShard extends ShardBase {
  items: unknown[] = [];
  streams: Record<string, number> = {};
  _streamCount = 0;

  _type(): ShardType {
    return VectorShardType;
  }

  _count(): number {
    return this.items.length;
  }

  override _splitBound(): number {
    return this.hi === END ? Math.floor(this.cfg.maxShardBytes * 0.75) : this.cfg.maxShardBytes;
  }

  _splitKey(force: boolean): number | null {
    const n = this.items.length;
    if (this.hi === END && !force) return n > 0 ? this.lo + n : null;
    if (n >= 2) return this.lo + (n >>> 1);
    return this.hi === END && n === 1 ? this.lo + 1 : null;
  }

  _cut(at: number): { payload: VectorPayload; bytes: number; count: number } {
    const items = this.items.splice(at - this.lo);
    let streams: Record<string, number> = {};
    if (this.hi === END) {
      streams = this.streams;
      this.streams = {};
      this._streamCount = 0;
    }
    return { payload: { items, streams }, bytes: bytesOf(items), count: items.length };
  }

  _takeAll(): VectorPayload {
    const payload = { items: this.items, streams: this.streams };
    this.items = [];
    this.streams = {};
    this._streamCount = 0;
    return payload;
  }

  _add(payload: unknown, _lo: number, hi: number): void {
    const p = payload as VectorPayload;
    if (this.items.length === 0) this.items = p.items;
    else if (hi === this.lo) this.items = p.items.concat(this.items);
    else for (let i = 0; i < p.items.length; i++) this.items.push(p.items[i]);
    for (const [s, seq] of Object.entries(p.streams)) {
      if (!(s in this.streams)) this._streamCount++;
      this.streams[s] = Math.max(seq, this.streams[s] ?? 0);
    }
  }

  _clear(): void {
    this.items = [];
    this.streams = {};
    this._streamCount = 0;
  }

  // ---------------------------------------------------------------- operations

  /** The element at `i`. */
  get(i: number): unknown {
    if (i < this.lo || i >= this.hi) throw this._stale(i);
    const k = i - this.lo;
    if (k >= this.items.length) throw outOfBounds(i, this.lo + this.items.length);
    return this.items[k];
  }

  /** Replaces the element at `i`. */
  set(i: number, value: unknown): void {
    if (i < this.lo || i >= this.hi) throw this._stale(i);
    const k = i - this.lo;
    if (k >= this.items.length) throw outOfBounds(i, this.lo + this.items.length);
    const delta = estimateBytes(value) - estimateBytes(this.items[k]);
    if (delta > 0) this._admit(delta);
    this.items[k] = value;
    this._changed(delta);
  }

  /** Appends one element (tail only); returns its index. */
  push(value: unknown): number {
    if (this.hi !== END) throw this._stale(END - 1);
    const b = estimateBytes(value);
    this._admit(b);
    this.items.push(value);
    this._changed(b);
    return this.lo + this.items.length - 1;
  }

  /**
   * Appends batch `seq` of `stream` (tail only) when it is the next one of its stream.
   * Returns the index of its first element, or -1 when an earlier batch of the stream has
   * not arrived yet (nothing applied).
   */
  append(stream: string, seq: number, values: unknown[], last: boolean): number {
    if (this.hi !== END) throw this._stale(END - 1);
    const expected = this.streams[stream] ?? 0;
    if (seq < expected) return this.lo + this.items.length; // applied before
    if (seq > expected) return -1;
    const b = bytesOf(values);
    this._admit(b);
    const first = this.lo + this.items.length;
    for (let i = 0; i < values.length; i++) this.items.push(values[i]);
    if (last) {
      if (stream in this.streams) {
        delete this.streams[stream];
        this._streamCount--;
      }
    } else {
      if (!(stream in this.streams)) {
        if (++this._streamCount > MAX_STREAMS) this._forgetOldestStream();
      }
      this.streams[stream] = seq + 1;
    }
    this._changed(b);
    return first;
  }

  _forgetOldestStream(): void {
    for (const s in this.streams) {
      delete this.streams[s];
      this._streamCount--;
      return;
    }
  }

  /** The vector's length (tail only). */
  length(): number {
    if (this.hi !== END) throw this._stale(END - 1);
    return this.lo + this.items.length;
  }

  /** The elements with indices in `[from, to)` that this shard holds, up to about `maxBytes`. */
  scan(from: number, to: number, maxBytes: number): ScanBlock<unknown> {
    if (from < this.lo || from >= this.hi) throw this._stale(from);
    const n = this.items.length;
    const avg = n === 0 ? 8 : Math.max(1, this.bytes / n);
    const stop = Math.min(to, this.hi);
    const dataEnd = Math.min(stop, this.lo + n);
    if (from >= dataEnd) return { items: [], next: stop, density: avg };
    const count = Math.min(dataEnd - from, Math.max(1, Math.floor(maxBytes / avg)));
    const k = from - this.lo;
    const next = from + count;
    return { items: this.items.slice(k, k + count), next: next === dataEnd ? stop : next, density: avg };
  }
}

function outOfBounds(i: number, length: number): RangeError {
  return new RangeError(`index ${i} is out of bounds: the vector's length is ${length}`);
}

/** @internal */
export const VectorShardType = defineProclet('quicksand.vector.Shard', VectorShard, {
  module: import.meta.url,
  save: (s: VectorShard): VectorState => ({ ...s._saveBase(), items: s.items, streams: s.streams }),
  restore: (st: VectorState): VectorShard => {
    const s = new VectorShard(st.index, st.cfg, st.lo, st.hi, st.version);
    s._restoreBase(st);
    s.items = st.items;
    s.streams = st.streams;
    s._streamCount = Object.keys(st.streams).length;
    return s;
  },
});

