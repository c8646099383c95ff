/** The map and set shard proclets. */
import { defineProclet } from '@quicksand/core';
import { ENTRY_OVERHEAD, estimateBytes } from '@quicksand/shard/internal';
import type { KeyedBatchResult, ShardBaseState, ShardType } from '@quicksand/shard/internal';
import { HashShard } from './hash-shard.js';


/** @internal A map entry: the key's hash, the value, and the accounted bytes of key and value. */
export interface MapEntry {
  h: number;
  v: unknown;
  s: number;
}

let scratchBuf = new Float64Array(4096);
/** A reusable array for per-entry sizes within one (synchronous) batch. */
function scratch(n: number): Float64Array {
  if (scratchBuf.length < n) scratchBuf = new Float64Array(Math.max(n, scratchBuf.length * 2));
  return scratchBuf;
}

interface HashState extends ShardBaseState {
  k: unknown[];
  e: unknown[];
}

/** @internal A shard of a ShardedMap. */
export class MapShard extends HashShard<MapEntry> {
  _type(): ShardType {
    return MapShardType;
  }
  _h(e: MapEntry): number {
    return e.h;
  }
  _s(_k: unknown, e: MapEntry): number {
    return e.s;
  }
  _item(k: unknown, e: MapEntry, mode: number): unknown {
    return mode === 0 ? [k, e.v] : mode === 1 ? k : e.v;
  }

  /** The value of `key` (hash `h`), or undefined. */
  get(h: number, key: unknown): unknown {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    const e = this.m.get(key);
    return e === undefined ? undefined : e.v;
  }

  /** Whether `key` is present. */
  has(h: number, key: unknown): boolean {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    return this.m.has(key);
  }

  /** Sets `key` to `value`. */
  set(h: number, key: unknown, value: unknown): void {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    const old = this.m.get(key);
    if (old === undefined) {
      const s = ENTRY_OVERHEAD + estimateBytes(key) + estimateBytes(value);
      this._admit(s);
      this.m.set(key, { h, v: value, s });
      this._changed(s);
    } else {
      const s = ENTRY_OVERHEAD + estimateBytes(key) + estimateBytes(value);
      const delta = s - old.s;
      if (delta > 0) this._admit(delta);
      old.v = value;
      old.s = s;
      this._changed(delta);
    }
  }

  /** Removes `key`; true when it was present. */
  delete(h: number, key: unknown): boolean {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    const old = this.m.get(key);
    if (old === undefined) return false;
    this.m.delete(key);
    this._changed(-old.s);
    return true;
  }

  /** Sets many entries; refuses (without applying) those whose keys it does not own. */
  setMany(hs: number[], keys: unknown[], values: unknown[]): KeyedBatchResult {
    const n = hs.length;
    const lo = this.lo;
    const hi = this.hi;
    const sizes = scratch(n);
    let foreign: number[] | null = null;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const h = hs[i]!;
      if (h < lo || h >= hi) {
        (foreign ??= []).push(i);
        sizes[i] = -1;
        continue;
      }
      const sz = ENTRY_OVERHEAD + estimateBytes(keys[i]) + estimateBytes(values[i]);
      sizes[i] = sz;
      total += sz;
    }
    this._admit(total);
    const m = this.m;
    let delta = 0;
    for (let i = 0; i < n; i++) {
      const sz = sizes[i]!;
      if (sz < 0) continue;
      const k = keys[i];
      const old = m.get(k);
      if (old === undefined) {
        m.set(k, { h: hs[i]!, v: values[i], s: sz });
        delta += sz;
      } else {
        delta += sz - old.s;
        old.v = values[i];
        old.s = sz;
      }
    }
    this._changed(delta);
    return foreign === null ? null : { r: foreign, v: this.version };
  }

  /** The values of many keys (undefined when absent), and the positions it does not own. */
  getMany(hs: number[], keys: unknown[]): [values: unknown[], refused: number[] | null, version: number] {
    const foreign = this._foreign(hs);
    const out = new Array<unknown>(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.m.get(keys[i])?.v;
    if (foreign !== null) for (const i of foreign) out[i] = undefined;
    return [out, foreign, this.version];
  }
}

/** @internal A shard of a ShardedSet: the Map holds each member's hash. */
export class SetShard extends HashShard<number> {
  _type(): ShardType {
    return SetShardType;
  }
  _h(e: number): number {
    return e;
  }
  _s(k: unknown): number {
    return ENTRY_OVERHEAD + estimateBytes(k);
  }
  _item(k: unknown): unknown {
    return k;
  }

  /** Whether `value` is a member. */
  has(h: number, value: unknown): boolean {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    return this.m.has(value);
  }

  /** Adds `value`; true when it was not a member. */
  add(h: number, value: unknown): boolean {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    if (this.m.has(value)) return false;
    const s = ENTRY_OVERHEAD + estimateBytes(value);
    this._admit(s);
    this.m.set(value, h);
    this._changed(s);
    return true;
  }

  /** Removes `value`; true when it was a member. */
  delete(h: number, value: unknown): boolean {
    if (h < this.lo || h >= this.hi) throw this._stale(h);
    if (!this.m.delete(value)) return false;
    this._changed(-(ENTRY_OVERHEAD + estimateBytes(value)));
    return true;
  }

  /** Adds many members; refuses (without applying) those it does not own. */
  addMany(hs: number[], values: unknown[]): KeyedBatchResult {
    const foreign = this._foreign(hs);
    const skip = foreign === null ? null : new Set(foreign);
    let total = 0;
    for (let i = 0; i < hs.length; i++) if (skip === null || !skip.has(i)) total += ENTRY_OVERHEAD + estimateBytes(values[i]);
    this._admit(total);
    const m = this.m;
    let delta = 0;
    for (let i = 0; i < hs.length; i++) {
      if (skip !== null && skip.has(i)) continue;
      if (m.has(values[i])) continue;
      m.set(values[i], hs[i]!);
      delta += ENTRY_OVERHEAD + estimateBytes(values[i]);
    }
    this._changed(delta);
    return foreign === null ? null : this._partial(foreign);
  }
}

function saveHash(s: HashShard<unknown>): HashState {
  return { ...s._saveBase(), k: [...s.m.keys()], e: [...s.m.values()] };
}

function restoreHash<S extends HashShard<unknown>>(s: S, st: HashState): S {
  s._restoreBase(st);
  s._add({ k: st.k, e: st.e });
  return s;
}

/** @internal */
export const MapShardType = defineProclet('quicksand.map.Shard', MapShard, {
  module: import.meta.url,
  save: (s: MapShard) => saveHash(s as unknown as HashShard<unknown>),
  restore: (st: HashState) => restoreHash(new MapShard(st.index, st.cfg, st.lo, st.hi, st.version) as unknown as HashShard<unknown>, st) as unknown as MapShard,
});

/** @internal */
export const SetShardType = defineProclet('quicksand.set.Shard', SetShard, {
  module: import.meta.url,
  save: (s: SetShard) => saveHash(s as unknown as HashShard<unknown>),
  restore: (st: HashState) => restoreHash(new SetShard(st.index, st.cfg, st.lo, st.hi, st.version) as unknown as HashShard<unknown>, st) as unknown as SetShard,
});
