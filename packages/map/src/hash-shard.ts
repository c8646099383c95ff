/**
 * The shards of the hash-partitioned structures (map and set): each owns a range of the
 * 32-bit key hash space and holds its entries in a native `Map`, with the key's hash kept
 * beside each entry so splits and scans never rehash.
 *
 * Split: at the middle of the shard's hash range (hashes are uniform, so the halves hold
 * about as much whatever the keys). Merge: the neighbour's entries are inserted.
 * Scan: the entries whose hash is in the requested sub-range, in hash order, cut at a
 * hash boundary once the byte budget is reached, so a block never splits entries that
 * share a hash.
 */
import { ShardBase, STALE_RANGE } from '@quicksand/shard/internal';
import type { KeyedBatchResult, ScanBlock } from '@quicksand/shard/internal';

/** @internal What moves on a split or merge: keys and their entries, in the same order. */
export interface HashPayload {
  k: unknown[];
  e: unknown[];
}

/** @internal Base of the map and set shards; `E` is what the native Map holds per key. */
export abstract class HashShard<E> extends ShardBase {
  m = new Map<unknown, E>();

  /** The hash of an entry. */
  abstract _h(e: E): number;
  /** The accounted bytes of an entry. */
  abstract _s(k: unknown, e: E): number;
  /** What a scan yields for an entry. */
  abstract _item(k: unknown, e: E, mode: number): unknown;

  _count(): number {
    return this.m.size;
  }

  _splitKey(force: boolean): number | null {
    if (this.hi - this.lo < 2 || (this.m.size < 2 && !force) || this.m.size === 0) return null;
    return this.lo + Math.floor((this.hi - this.lo) / 2);
  }

  _cut(at: number): { payload: HashPayload; bytes: number; count: number } {
    const k: unknown[] = [];
    const e: E[] = [];
    let bytes = 0;
    // forEach: no [key, value] pair per entry.
    this.m.forEach((entry, key) => {
      if (this._h(entry) >= at) {
        k.push(key);
        e.push(entry);
        bytes += this._s(key, entry);
      }
    });
    const m = this.m;
    for (let i = 0; i < k.length; i++) m.delete(k[i]);
    return { payload: { k, e }, bytes, count: k.length };
  }

  _takeAll(): HashPayload {
    const k = [...this.m.keys()];
    const e = [...this.m.values()];
    this.m = new Map();
    return { k, e };
  }

  _add(payload: unknown): void {
    const p = payload as HashPayload;
    const m = this.m;
    for (let i = 0; i < p.k.length; i++) m.set(p.k[i], p.e[i] as E);
  }

  _clear(): void {
    this.m = new Map();
  }

  /** Elements held. */
  count(): number {
    return this.m.size;
  }

  /**
   * How many entries have a hash in `[from, to)` here, and where this answer stops
   * (`next`: the end of the request or of this shard's range, whichever comes first).
   */
  countRange(from: number, to: number): [n: number, next: number] {
    if (from < this.lo || from >= this.hi) throw this._stale(from, STALE_RANGE);
    const end = Math.min(to, this.hi);
    if (from === this.lo && end === this.hi) return [this.m.size, end];
    let n = 0;
    for (const e of this.m.values()) {
      const h = this._h(e);
      if (h >= from && h < end) n++;
    }
    return [n, end];
  }

  /**
   * The entries whose hash is in `[from, to)`, in hash order, up to about `maxBytes`
   * (`mode`: 0 `[key, value]` pairs, 1 keys, 2 values).
   */
  scan(from: number, to: number, maxBytes: number, mode: number): ScanBlock<unknown> {
    if (from < this.lo || from >= this.hi) throw this._stale(from, STALE_RANGE);
    const stop = Math.min(to, this.hi);
    const width = this.hi - this.lo;
    const density = this.bytes / width;
    const hs: number[] = [];
    const ks: unknown[] = [];
    this.m.forEach((e, k) => {
      const h = this._h(e);
      if (h >= from && h < stop) {
        hs.push(h);
        ks.push(k);
      }
    });
    const order = hs.map((_, i) => i).sort((a, b) => hs[a]! - hs[b]!);
    const items: unknown[] = [];
    let bytes = 0;
    let next = stop;
    for (let j = 0; j < order.length; j++) {
      const i = order[j]!;
      const h = hs[i]!;
      if (bytes >= maxBytes && items.length > 0 && h !== hs[order[j - 1]!]) {
        next = h;
        break;
      }
      const e = this.m.get(ks[i])!;
      bytes += this._s(ks[i], e);
      items.push(this._item(ks[i], e, mode));
    }
    return { items, next, density };
  }

  /** Positions of `hs` this shard does not own, or null when it owns them all. */
  _foreign(hs: number[]): number[] | null {
    let r: number[] | null = null;
    const lo = this.lo;
    const hi = this.hi;
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i]!;
      if (h < lo || h >= hi) (r ??= []).push(i);
    }
    return r;
  }

  /** The answer to a batch some of whose keys this shard does not own. */
  _partial(r: number[]): KeyedBatchResult {
    return { r, v: this.version };
  }
}

