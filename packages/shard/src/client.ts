/**
 * The client side of a sharded structure: the cached route table (left key -> shard Ref)
 * and the recovery from stale routes, shared by every handle on the same structure in the
 * same cluster view.
 *
 * Semantics:
 * - `route(key)` is the hot path: a binary search over the cached left keys (a
 *   `Float64Array`) that returns the shard's `Ref`, a few tens of nanoseconds.
 * - `recover(error, ref, attempt)` turns a shard's refusal into the right action: pull
 *   the route changes up to the version the shard named (`'range'`), ask the index to
 *   split a shard far past its bound (`'full'`) or to relieve a node out of memory
 *   (`'memory'`), or refresh after calling a shard that a merge destroyed. It throws
 *   anything else, and gives up after {@link MAX_ATTEMPTS} attempts.
 * - Concurrent refreshes share one request to the index.
 *
 * Invariants: `lefts`, `refs` and `ids` always describe one consistent version of the
 * routes, the one in `version`; Refs are reused across refreshes, so a Ref bound to a
 * local shard keeps its fast path.
 */
import { ClosedError, StaleRouteError, hasErrorCode } from '@quicksand/core';
import type { Cluster, Ref } from '@quicksand/core';
import type { ShardConfig } from './options.js';
import type { ShardIndex } from './index-proclet.js';
import { STALE_FULL, STALE_MEMORY } from './protocol.js';
import { HASH_SPACE } from './hash.js';
import type { RouteDelta, RouteChange, ShardStat } from './protocol.js';

const MIXED = 0xffff;
/** Buckets of the route table: 2^12 of 2^20 hashes each, 8 KiB, small enough to stay in L1. */
const BUCKET_BITS = 12;
const BUCKET_SHIFT = 32 - BUCKET_BITS;
const BUCKET_WIDTH = 2 ** BUCKET_SHIFT;

/** For each bucket of the hash space, the position of the shard holding all of it, or MIXED. */
function bucketTable(lefts: Float64Array): Uint16Array {
  const t = new Uint16Array(1 << BUCKET_BITS).fill(MIXED);
  for (let i = 0; i < lefts.length; i++) {
    const lo = lefts[i]!;
    const hi = i + 1 < lefts.length ? lefts[i + 1]! : HASH_SPACE;
    const first = Math.ceil(lo / BUCKET_WIDTH);
    const end = Math.floor(hi / BUCKET_WIDTH);
    for (let b = first; b < end; b++) t[b] = i;
  }
  return t;
}

/** Attempts at one operation before giving up on stale routes. */
export const MAX_ATTEMPTS = 64;

const clients = new WeakMap<Cluster, Map<string, ShardClient>>();

/** @internal Route cache and retry logic of one structure in one cluster view. */
export class ShardClient {
  readonly cluster: Cluster;
  readonly index: Ref<ShardIndex>;
  readonly cfg: ShardConfig;
  version = 0;
  lefts = new Float64Array(0);
  refs: Ref[] = [];
  ids: string[] = [];
  #refCache = new Map<string, Ref>();
  /** Shard position per bucket of the hash space, or MIXED; null for other key spaces. */
  #table: Uint16Array | null = null;
  #pulling: Promise<void> | null = null;
  #closed = false;

  private constructor(cluster: Cluster, index: Ref<ShardIndex>, cfg: ShardConfig) {
    this.cluster = cluster;
    this.index = index;
    this.cfg = cfg;
  }

  /** The shared client for the structure whose index is `indexId`, in this view. */
  static async attach(cluster: Cluster, indexId: string): Promise<ShardClient> {
    let byId = clients.get(cluster);
    if (byId === undefined) {
      byId = new Map();
      clients.set(cluster, byId);
    }
    const known = byId.get(indexId);
    if (known !== undefined && !known.#closed) return known;
    const index = cluster.ref<ShardIndex>(indexId);
    const info = await index.call('info');
    if (info.dead) throw new ClosedError(`${info.cfg.kind} '${info.cfg.name}' was destroyed`);
    const c = new ShardClient(cluster, index, info.cfg);
    const table = await index.call('table');
    c.#apply({ version: table.version, full: true, changes: table.lefts.map((l, i): RouteChange => [l, table.ids[i]!]) });
    const again = byId.get(indexId);
    if (again !== undefined && !again.#closed) return again;
    byId.set(indexId, c);
    return c;
  }

  /** `"vector 'name'"`, for messages. */
  get what(): string {
    return `${this.cfg.kind} '${this.cfg.name}'`;
  }

  /**
   * The shard owning `key` according to the cached routes. In the 32-bit hash space, a
   * table indexed by the key's top 12 bits answers at once for every bucket that lies
   * inside one shard (splits cut at midpoints and pre-splits at powers of two, so up to
   * 4096 shards nearly all do); other keys take the binary search.
   */
  route(key: number): Ref {
    const t = this.#table;
    if (t !== null) {
      const p = t[key >>> BUCKET_SHIFT]!;
      if (p !== MIXED) return this.refs[p]!;
    }
    return this.refs[this.position(key)]!;
  }

  /** Position in the route table of the shard owning `key`: a binary search over the left keys. */
  position(key: number): number {
    const l = this.lefts;
    let lo = 0;
    let hi = l.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (l[mid]! <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** End (exclusive) of the range of the shard at `pos`, per the cached routes. */
  rightOf(pos: number): number {
    return pos + 1 < this.lefts.length ? this.lefts[pos + 1]! : this.cfg.space;
  }

  /** The last shard (a vector's tail). */
  last(): Ref {
    return this.refs[this.refs.length - 1]!;
  }

  /**
   * Handles a refusal from `ref` so the operation can be retried with fresh routes.
   * @throws the error itself when it is not about routes, and after MAX_ATTEMPTS attempts.
   */
  async recover(e: unknown, ref: Ref, attempt: number): Promise<void> {
    this.#check();
    if (attempt >= MAX_ATTEMPTS) {
      throw new StaleRouteError(`${this.what}: gave up after ${MAX_ATTEMPTS} attempts to reach the shard owning a key while routes kept changing (last: ${(e as Error).message})`, { cause: e });
    }
    if (hasErrorCode(e, 'QS_ERR_STALE')) {
      const d = e.data;
      const version = typeof d.version === 'number' ? d.version : this.version + 1;
      const need = typeof d.need === 'number' ? d.need : 0;
      if (d.reason === STALE_MEMORY) {
        await this.index.call('relieve', ref.id, need);
      } else if (d.reason === STALE_FULL) {
        // Split the shard before writing more; when no node has room for the new half,
        // the index decides whether anything can make room (or says the cluster is full).
        try {
          await this.index.call('split', ref.id, false);
        } catch (err) {
          if (!hasErrorCode(err, 'QS_ERR_MEMORY_BUDGET')) throw err;
          await this.index.call('relieve', ref.id, need);
        }
      }
      await this.refresh(version);
    } else if (hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND')) {
      // The shard was destroyed by a merge or clear committed at a version this client may
      // not have seen. (The error may name the controller, which was asked where it is.)
      if (this.ids.includes(ref.id)) await this.refresh(this.version + 1);
    } else {
      throw e;
    }
    if (attempt >= 8) await new Promise((r) => setTimeout(r, Math.min(50, attempt)));
  }

  /** Retries `fn` on the shard owning `key` until it stops refusing. */
  async retry<R>(e: unknown, ref: Ref, key: number, fn: (ref: Ref) => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      await this.recover(e, ref, attempt);
      ref = key < 0 ? this.last() : this.route(key);
      try {
        return await fn(ref);
      } catch (err) {
        e = err;
      }
    }
  }

  /** Brings the routes to version `need` or later (or to the newest there is). */
  async refresh(need: number): Promise<void> {
    for (let round = 0; round < 2; round++) {
      if (this.version >= need) return;
      this.#pulling ??= this.#pull(need).finally(() => {
        this.#pulling = null;
      });
      await this.#pulling;
    }
  }

  async #pull(need: number): Promise<void> {
    let d: RouteDelta;
    try {
      d = await this.index.call('routes', this.version, need);
    } catch (e) {
      if (hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND') || hasErrorCode(e, 'QS_ERR_CLOSED')) {
        this.#closed = true;
        throw new ClosedError(`${this.what} was destroyed`, { cause: e });
      }
      throw e;
    }
    if (d.version > this.version) this.#apply(d);
  }

  #apply(d: RouteDelta): void {
    const table = new Map<number, string>();
    if (!d.full) for (let i = 0; i < this.ids.length; i++) table.set(this.lefts[i]!, this.ids[i]!);
    for (const [left, id] of d.changes) {
      if (id === null) table.delete(left);
      else table.set(left, id);
    }
    const lefts = [...table.keys()].sort((a, b) => a - b);
    const ids = lefts.map((l) => table.get(l)!);
    if (lefts.length === 0 || lefts[0] !== 0) throw new StaleRouteError(`${this.what}: the index sent routes that do not start at key 0 (version ${d.version})`);
    const live = new Set(ids);
    for (const id of this.#refCache.keys()) if (!live.has(id)) this.#refCache.delete(id);
    this.refs = ids.map((id) => {
      let r = this.#refCache.get(id);
      if (r === undefined) {
        r = this.cluster.ref(id);
        this.#refCache.set(id, r);
      }
      return r;
    });
    this.ids = ids;
    this.lefts = Float64Array.from(lefts);
    this.#table = this.cfg.space === HASH_SPACE && ids.length < MIXED ? bucketTable(this.lefts) : null;
    this.version = d.version;
  }

  /**
   * Before a bulk write of `count` elements of about `bytesEach` bytes: when that is many
   * shards' worth and the structure has fewer shards, asks the index to pre-split its
   * empty shards so that the write fills about two thirds of each (the index rounds the
   * pieces to a power of two: between about half and all of each shard), and pulls the
   * new routes.
   */
  async presplitFor(count: number, bytesEach: number): Promise<void> {
    const cfg = this.cfg;
    const total = count * bytesEach;
    if (!cfg.autoSplit || total < 4 * cfg.maxShardBytes) return;
    const fill = Math.floor((cfg.maxShardBytes * 2) / 3);
    const target = Math.ceil(total / fill);
    if (target <= this.ids.length) return;
    if ((await this.index.call('presplit', target, fill)) > 0) await this.latest();
  }

  /** Pulls the newest routes from the index, whatever this client holds. */
  async latest(): Promise<void> {
    await this.#pull(0);
  }

  /**
   * Adds up `count` over the whole key space, each part of it counted by the shard that
   * owns it when asked: the current routes' ranges are asked in parallel; a shard that
   * answers for less than its range (it split meanwhile) or refuses (it no longer owns the
   * start) has the rest asked again after the routes are refreshed. Every key is counted
   * exactly once, however the shards split, merge or move meanwhile; keys written during
   * the count are counted or not.
   */
  async countAll(count: (ref: Ref, from: number, to: number) => Promise<[n: number, next: number]>): Promise<number> {
    let total = 0;
    let todo: Array<[number, number]> = [[0, this.cfg.space]];
    for (let attempt = 0; todo.length > 0; attempt++) {
      // Cut what is left at the cached shard boundaries, so each request goes to one shard.
      const parts: Array<[number, number]> = [];
      for (const [from, to] of todo) {
        for (let at = from; at < to; ) {
          const end = Math.min(to, this.rightOf(this.position(at)));
          parts.push([at, end]);
          at = end;
        }
      }
      const left: Array<[number, number]> = [];
      let failure: { e: unknown; ref: Ref } | null = null;
      await Promise.all(
        parts.map(async ([from, to]) => {
          const ref = this.route(from);
          try {
            const [n, next] = await count(ref, from, to);
            total += n;
            if (next < to) left.push([next, to]);
          } catch (e) {
            failure ??= { e, ref };
            left.push([from, to]);
          }
        }),
      );
      todo = left;
      if (todo.length === 0) break;
      const f = failure as { e: unknown; ref: Ref } | null;
      if (f !== null) await this.recover(f.e, f.ref, attempt);
      else await this.refresh(this.version + 1);
    }
    return total;
  }

  /**
   * Calls `stat` on every shard and returns the answers once they tile the key space
   * exactly (each key counted once), refreshing and retrying while splits or merges race.
   */
  async stats(): Promise<ShardStat[]> {
    for (let attempt = 0; ; attempt++) {
      const refs = this.refs;
      let out: ShardStat[] | null = null;
      let err: unknown = null;
      let errRef: Ref | null = null;
      try {
        out = await Promise.all(
          refs.map((r) =>
            (r as Ref<{ stat(): ShardStat }>).call('stat').catch((e: unknown) => {
              errRef ??= r;
              throw e;
            }),
          ),
        );
      } catch (e) {
        err = e;
      }
      if (out !== null) {
        out.sort((a, b) => a.lo - b.lo || a.hi - b.hi);
        const nonEmpty = out.filter((s) => s.lo < s.hi);
        let at = 0;
        let ok = true;
        for (const s of nonEmpty) {
          if (s.lo !== at) ok = false;
          at = s.hi;
        }
        if (ok && at === this.cfg.space) return nonEmpty;
        const need = Math.max(this.version + 1, ...out.map((s) => s.version));
        err = new StaleRouteError(`${this.what}: shard ranges did not tile the key space at routes version ${this.version}`, { data: { version: need } });
        errRef = refs[0]!;
      }
      await this.recover(err, errRef ?? refs[0]!, attempt);
    }
  }

  /** Forgets this client (after the structure is destroyed). */
  close(): void {
    this.#closed = true;
    clients.get(this.cluster)?.delete(this.index.id);
  }

  #check(): void {
    if (this.#closed) throw new ClosedError(`${this.what} was destroyed`);
  }
}
