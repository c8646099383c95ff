/**
 * What crosses the wire between clients, shards and the index: plain arrays, plain
 * objects, numbers and strings only (no `Map`, `Set` or `undefined`), so any codec carries it.
 */

/** Right bound of an open key space (a vector's indices): the last shard owns `[lo, END)`. */
export const END = Number.MAX_SAFE_INTEGER;

/** Why a shard refused an operation (`data.reason` of its `StaleRouteError`). */
export const STALE_RANGE = 'range';
/** The shard is far past its bound and a split is due: ask the index to split it, then retry. */
export const STALE_FULL = 'full';
/** The shard's node is out of memory: ask the index to relieve it, then retry. */
export const STALE_MEMORY = 'memory';

/**
 * One change to the routes: `[left, id]` makes the shard `id` own keys from `left` up to
 * the next left key; `[left, null]` removes the route starting at `left`.
 */
export type RouteChange = [left: number, id: string | null];

/** The routes a client pulls from the index. */
export interface RouteDelta {
  /** Version of the routes after applying `changes`. */
  version: number;
  /** True when `changes` is the whole table (the client drops what it had). */
  full: boolean;
  /** Changes to apply in order. */
  changes: RouteChange[];
}

/** What a shard says about itself. */
export interface ShardStat {
  /** Proclet id. */
  id: string;
  /** First key owned. */
  lo: number;
  /** End of the keys owned (exclusive). */
  hi: number;
  /** Elements held. */
  count: number;
  /** Bytes held, as accounted. */
  bytes: number;
  /** The index version at which its current range took effect. */
  version: number;
  /** Node it is on. */
  node: string;
}

/** @internal Result of a shard's half of a split. */
export interface SplitOut {
  at: number;
  id: string;
  bytes: number;
  count: number;
  from: string;
}

/** A block of a scan: the elements with keys in `[from, next)` in key order. */
export interface ScanBlock<T> {
  /** The elements (their form depends on the structure and scan mode). */
  items: T[];
  /** The first key not covered; the caller continues from here. */
  next: number;
  /** Bytes per key unit in the shard that answered, to size the next blocks. */
  density: number;
}

/** @internal Anything thrown, as an Error (rethrown as is when it already is one). */
export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(`non-Error value thrown: ${String(e)}`);
}
