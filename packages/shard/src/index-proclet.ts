/**
 * The index proclet of one sharded structure: the versioned route table (left key ->
 * shard), a short log of route changes, and the coordinator of splits, merges, memory
 * relief, clears and destruction. Clients cache the routes and ask the index only when a
 * shard tells them their routes are stale; the index is never on the hot path.
 *
 * Semantics:
 * - `routes(since, need)` answers the changes after version `since` (or the whole table
 *   when its log no longer reaches back that far). When a change that will produce
 *   version `need` is being prepared, it waits for it, so a client told by a shard "you
 *   need version v" gets routes at least that new in one round trip.
 * - Every structural change (split, merge, clear, destroy) is serialized through one
 *   chain, gets the next version number before it starts, and is committed (routes
 *   switched, version bumped, waiters released) in one atomic step once the shards have
 *   moved the data. A change that fails still bumps the version (with no route change),
 *   so nobody waits for a version that never comes.
 * - Every structural change runs inside a tracked call of this proclet, so the index
 *   never migrates half way through one.
 *
 * Invariants: `lefts` is sorted and starts at 0; `ids[i]` owns `[lefts[i], lefts[i+1])`
 * (the last one up to the key space's end) at `version`; the log holds the changes of the
 * most recent versions, oldest first.
 *
 * Not handled: moves by the kernel (migrations) do not change routes, so they do not bump
 * the version; the kernel's directory follows them. Losing the index's node loses the
 * structure (no replication yet).
 */
import { ClosedError, MemoryBudgetError, contextOf, defineProclet, formatBytes, hasErrorCode } from '@quicksand/core';
import type { Ref } from '@quicksand/core';
import type { ShardConfig } from './options.js';
import type { RouteChange, RouteDelta, ShardStat, SplitOut } from './protocol.js';

const LOG_LIMIT = 64;

interface LogEntry {
  v: number;
  reset: boolean;
  changes: RouteChange[];
}

/** Payload of the `split` cluster event. */
export interface SplitEvent {
  /** Name of the structure. */
  structure: string;
  /** Its kind: `'vector'`, `'map'`, `'set'`. */
  kind: string;
  /** The shard that split (it keeps the keys below `at`). */
  shard: string;
  /** The new shard (it owns the keys from `at` up to the old shard's end). */
  newShard: string;
  /** First key of the new shard. */
  at: number;
  /** Routes version after the split. */
  version: number;
  /** Bytes moved to the new shard. */
  bytes: number;
  /** Elements moved to the new shard. */
  count: number;
  /** Node of the old shard. */
  from: string;
  /** Node of the new shard. */
  to: string;
  /** True when it was asked for explicitly rather than triggered by size. */
  forced: boolean;
}

/** Payload of the `merge` cluster event. */
export interface MergeEvent {
  /** Name of the structure. */
  structure: string;
  /** Its kind. */
  kind: string;
  /** The shard that now holds both ranges. */
  into: string;
  /** The shard folded into it and destroyed. */
  removed: string;
  /** First key of the merged range. */
  lo: number;
  /** End of the merged range (exclusive). */
  hi: number;
  /** Routes version after the merge. */
  version: number;
  /** Bytes moved. */
  bytes: number;
  /** True when it was asked for explicitly rather than triggered by size. */
  forced: boolean;
}

/** What a shard proclet offers the index (implemented by `ShardBase`). */
interface ShardOps {
  stat(): ShardStat;
  splitOut(version: number, force: boolean): Promise<SplitOut | null>;
  splitEmpty(version: number, cuts: number[], nodes: string[]): Promise<string[] | null>;
  mergeOut(version: number, into: string): Promise<{ lo: number; hi: number; bytes: number }>;
  retire(version: number): void;
  resetTo(lo: number, hi: number, version: number): void;
}

/** @internal Saved state of the index. */
export interface IndexState {
  cfg: ShardConfig;
  version: number;
  lefts: number[];
  ids: string[];
  log: LogEntry[];
  dead: boolean;
  splits: number;
  merges: number;
}

/** @internal The index proclet; see the module comment. */
export class ShardIndex {
  cfg: ShardConfig;
  version = 0;
  lefts: number[] = [];
  ids: string[] = [];
  log: LogEntry[] = [];
  dead = false;
  splits = 0;
  merges = 0;
  _chain: Promise<unknown> = Promise.resolve();
  _pending = 0;
  _waiters: Array<() => void> = [];
  _asks = new Map<string, { started: boolean; p: Promise<unknown> }>();
  _refs = new Map<string, Ref<ShardOps>>();

  constructor(cfg: ShardConfig) {
    this.cfg = cfg;
  }

  /** Installs the first shard (called once, right after creation). */
  init(shard: string): void {
    if (this.version !== 0) throw new ClosedError(`${this._what()} is already initialised`);
    this.lefts = [0];
    this.ids = [shard];
    this.version = 1;
  }

  /** The configuration and current version. */
  info(): { cfg: ShardConfig; version: number; dead: boolean; shards: number; splits: number; merges: number } {
    return { cfg: this.cfg, version: this.version, dead: this.dead, shards: this.ids.length, splits: this.splits, merges: this.merges };
  }

  /** The whole route table. */
  table(): { version: number; lefts: number[]; ids: string[] } {
    this._live();
    return { version: this.version, lefts: [...this.lefts], ids: [...this.ids] };
  }

  /**
   * Route changes since version `since`; waits while a change that produces version
   * `need` is being prepared.
   */
  async routes(since: number, need: number): Promise<RouteDelta> {
    while (this.version < need && this._pending >= need) {
      await new Promise<void>((resolve) => this._waiters.push(resolve));
    }
    this._live();
    return this._delta(since);
  }

  /** A shard passed its bound: split it (deduplicated per shard). */
  requestSplit(shard: string): Promise<unknown> {
    return this._once(`s:${shard}`, () => this._split(shard, false));
  }

  /**
   * Splits `shard` in two. With `force`, even when it is below its bound (as long as it
   * holds two elements or more). Resolves with the event, or null when nothing was split.
   */
  split(shard: string, force: boolean): Promise<SplitEvent | null> {
    if (!force) return this.requestSplit(shard) as Promise<SplitEvent | null>;
    return this._serial(() => this._split(shard, true));
  }

  /** A shard fell below the low-water mark: fold small neighbours together where they fit. */
  requestMerge(shard: string): Promise<unknown> {
    void shard; // any shard that shrank triggers one pass over the whole structure
    return this._once('compact', () => this._compact());
  }

  /**
   * Merges `left` with the shard to its right. With `force`, whatever their sizes.
   * Resolves with the event, or null when there is no right neighbour or they are too big.
   */
  merge(left: string, force: boolean): Promise<MergeEvent | null> {
    return this._serial(() => this._merge(left, force));
  }

  /**
   * `shard`'s node has no room for a write of `need` more bytes: move the shard to a node
   * with room for it and the write, or split it so that half of it moves to where memory
   * is free, or fail with MemoryBudgetError when no node can help.
   */
  relieve(shard: string, need: number): Promise<unknown> {
    return this._once(`r:${shard}`, () => this._relieve(shard, need));
  }

  /**
   * Before a large bulk write: cuts every empty shard into pieces so the structure has
   * about `target` shards, spread over the nodes by free memory (expecting
   * `expectBytes` per shard), so the load fills them without moving data. Shards that
   * hold data are left to split as usual. Resolves with the number of shards created.
   */
  presplit(target: number, expectBytes: number): Promise<number> {
    return this._serial(async () => {
      this._live();
      const want = Math.min(4096, Math.floor(target));
      if (this.ids.length >= want) return 0;
      const cluster = contextOf(this).cluster;
      const stats = await cluster.stats();
      const free = new Map(stats.nodes.filter((n) => !n.lost).map((n) => [n.id, n.memory - n.memoryUsed]));
      // Each new shard goes to the node with the most free memory left after the shards
      // planned so far; no more are planned than the nodes have room to fill.
      const pick = (): string | undefined => {
        let best: string | undefined;
        let most = expectBytes;
        for (const [id, f] of free) {
          if (f >= most) {
            best = id;
            most = f;
          }
        }
        if (best !== undefined) free.set(best, most - expectBytes);
        return best;
      };
      let created = 0;
      for (const id of [...this.ids]) {
        const pos = this.ids.indexOf(id);
        if (pos < 0) continue;
        const lo = this.lefts[pos]!;
        const hi = pos + 1 < this.lefts.length ? this.lefts[pos + 1]! : this.cfg.space;
        // A power of two, so the cuts fall on aligned boundaries (as midpoint splits do).
        const share = (want * (hi - lo)) / this.cfg.space;
        const pieces = Math.min(hi - lo, share < 1.5 ? 1 : 2 ** Math.round(Math.log2(share)));
        if (pieces < 2) continue;
        const nodes: string[] = [];
        for (let i = 1; i < pieces; i++) {
          const node = pick();
          if (node === undefined) break;
          nodes.push(node);
        }
        if (nodes.length === 0) break;
        // Fewer pieces when the nodes cannot hold more: still a power of two.
        const n = 2 ** Math.floor(Math.log2(nodes.length + 1));
        nodes.length = n - 1;
        if (nodes.length === 0) continue;
        const cuts = nodes.map((_, i) => lo + Math.floor(((i + 1) * (hi - lo)) / n));
        const v = this.version + 1;
        this._pending = v;
        let ids: string[] | null;
        try {
          ids = await this._ref(id).call('splitEmpty', v, cuts, nodes);
        } catch (e) {
          this._commit(v, [], false);
          throw this._explain(e, `pre-splitting shard ${id}`);
        }
        if (ids === null) {
          this._abort();
          continue;
        }
        this._commit(
          v,
          cuts.map((c, i): RouteChange => [c, ids[i]!]),
          false,
        );
        this.splits += ids.length;
        created += ids.length;
        ids.forEach((newShard, i) => {
          const ev: SplitEvent = { structure: this.cfg.name, kind: this.cfg.kind, shard: id, newShard, at: cuts[i]!, version: v, bytes: 0, count: 0, from: nodes[i]!, to: nodes[i]!, forced: true };
          cluster.publish('split', ev);
        });
      }
      return created;
    });
  }

  /** Empties the structure: one empty shard owns the whole key space again. */
  reset(): Promise<void> {
    return this._serial(async () => {
      this._live();
      const v = this.version + 1;
      this._pending = v;
      const [first, ...others] = this.ids;
      try {
        await Promise.all(others.map((id) => this._ref(id).call('retire', v).catch(ignoreGone)));
        await this._ref(first!).call('resetTo', 0, this.cfg.space, v);
      } catch (e) {
        this._commit(v, [], false);
        throw e;
      }
      this._commit(v, [[0, first!]], true);
      await Promise.all(others.map((id) => this._destroy(id)));
    });
  }

  /** Destroys every shard; the index itself is destroyed by the caller afterwards. */
  retireAll(): Promise<void> {
    return this._serial(async () => {
      if (this.dead) return;
      this.dead = true;
      const v = this.version + 1;
      this._pending = v;
      const ids = this.ids;
      await Promise.all(ids.map((id) => this._ref(id).call('retire', v).catch(ignoreGone)));
      this._commit(v, [], true);
      this.lefts = [];
      this.ids = [];
      await Promise.all(ids.map((id) => this._destroy(id)));
    });
  }

  // ------------------------------------------------------------------ internals

  _what(): string {
    return `${this.cfg.kind} '${this.cfg.name}'`;
  }

  _live(): void {
    if (this.dead) throw new ClosedError(`${this._what()} was destroyed`);
  }

  _ref(id: string): Ref<ShardOps> {
    let r = this._refs.get(id);
    if (r === undefined) {
      r = contextOf(this).cluster.ref<ShardOps>(id);
      this._refs.set(id, r);
    }
    return r;
  }

  _serial<R>(fn: () => Promise<R>): Promise<R> {
    const p = this._chain.then(fn);
    this._chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Runs `fn` in the chain, sharing a request for the same key that has not started yet
   * (one that is already running may have looked at an older state, so a new one queues).
   */
  _once(key: string, fn: () => Promise<unknown>): Promise<unknown> {
    const queued = this._asks.get(key);
    if (queued !== undefined && !queued.started) return queued.p;
    const entry = { started: false, p: Promise.resolve() as Promise<unknown> };
    entry.p = this._serial(() => {
      entry.started = true;
      return fn();
    }).finally(() => {
      if (this._asks.get(key) === entry) this._asks.delete(key);
    });
    this._asks.set(key, entry);
    return entry.p;
  }

  _delta(since: number): RouteDelta {
    if (since === this.version) return { version: this.version, full: false, changes: [] };
    const first = this.log[0];
    if (since > 0 && since < this.version && first !== undefined && first.v <= since + 1) {
      const changes: RouteChange[] = [];
      let reset = false;
      for (const e of this.log) {
        if (e.v <= since) continue;
        if (e.reset) reset = true;
        for (const c of e.changes) changes.push(c);
      }
      if (!reset) return { version: this.version, full: false, changes };
    }
    return { version: this.version, full: true, changes: this.lefts.map((l, i): RouteChange => [l, this.ids[i]!]) };
  }

  _commit(v: number, changes: RouteChange[], reset: boolean): void {
    if (reset) {
      this.lefts = [];
      this.ids = [];
    }
    for (const [left, id] of changes) {
      const i = lowerBound(this.lefts, left);
      const found = i < this.lefts.length && this.lefts[i] === left;
      if (id === null) {
        if (found) {
          this.lefts.splice(i, 1);
          this.ids.splice(i, 1);
        }
      } else if (found) {
        this.ids[i] = id;
      } else {
        this.lefts.splice(i, 0, left);
        this.ids.splice(i, 0, id);
      }
    }
    this.version = v;
    this._pending = 0;
    this.log.push({ v, reset, changes });
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    this._wake();
  }

  _abort(): void {
    this._pending = 0;
    this._wake();
  }

  _wake(): void {
    const w = this._waiters;
    this._waiters = [];
    for (const resolve of w) resolve();
  }

  async _split(id: string, force: boolean): Promise<SplitEvent | null> {
    this._live();
    if (!this.ids.includes(id)) return null;
    const v = this.version + 1;
    this._pending = v;
    let out: SplitOut | null;
    try {
      out = await this._ref(id).call('splitOut', v, force);
    } catch (e) {
      this._commit(v, [], false);
      throw this._explain(e, `splitting shard ${id}`);
    }
    if (out === null) {
      this._abort();
      return null;
    }
    this._commit(v, [[out.at, out.id]], false);
    this.splits++;
    const cluster = contextOf(this).cluster;
    const to = await cluster.locate(out.id).catch(() => 'unknown');
    const ev: SplitEvent = {
      structure: this.cfg.name,
      kind: this.cfg.kind,
      shard: id,
      newShard: out.id,
      at: out.at,
      version: v,
      bytes: out.bytes,
      count: out.count,
      from: out.from,
      to,
      forced: force,
    };
    cluster.publish('split', ev);
    return ev;
  }

  /**
   * Folds small neighbours together across the whole structure: a pair of adjacent
   * shards merges when one of them is below the low-water mark and both together hold
   * at most half of `maxShardBytes`; the result is compared with its next neighbour, and
   * so on. Any shard that shrank below the mark asks for this, so a structure that shrank
   * folds back without further writes, whichever shard shrank last.
   */
  async _compact(): Promise<MergeEvent | null> {
    this._live();
    if (this.ids.length < 2) return null;
    const stats = await Promise.all(this.ids.map((id) => this._ref(id).call('stat').catch(() => null)));
    const bytes = new Map<string, number>();
    stats.forEach((st, i) => bytes.set(this.ids[i]!, st === null ? Infinity : st.bytes));
    const low = this.cfg.lowWaterBytes;
    const fit = this.cfg.maxShardBytes / 2;
    let last: MergeEvent | null = null;
    for (let i = 0; i + 1 < this.ids.length; ) {
      const a = bytes.get(this.ids[i]!) ?? Infinity;
      const b = bytes.get(this.ids[i + 1]!) ?? Infinity;
      if ((a < low || b < low) && a + b <= fit) {
        const ev = await this._merge(this.ids[i]!, false);
        if (ev !== null) {
          bytes.set(ev.into, a + b);
          last = ev;
          continue; // the merged shard is at position i now; compare it with its next neighbour
        }
      }
      i++;
    }
    return last;
  }

  async _merge(leftId: string, force: boolean): Promise<MergeEvent | null> {
    this._live();
    const pos = this.ids.indexOf(leftId);
    if (pos < 0 || pos + 1 >= this.ids.length) return null;
    const rightId = this.ids[pos + 1]!;
    const [ls, rs] = await Promise.all([this._ref(leftId).call('stat'), this._ref(rightId).call('stat')]);
    if (!force && ls.bytes + rs.bytes > this.cfg.maxShardBytes / 2) return null;
    // Move the smaller side's data into the larger one.
    const srcIsRight = rs.bytes <= ls.bytes;
    const src = srcIsRight ? rightId : leftId;
    const dst = srcIsRight ? leftId : rightId;
    const leftKey = this.lefts[pos]!;
    const rightKey = this.lefts[pos + 1]!;
    const v = this.version + 1;
    this._pending = v;
    let moved: { lo: number; hi: number; bytes: number };
    try {
      moved = await this._ref(src).call('mergeOut', v, dst);
    } catch (e) {
      this._commit(v, [], false);
      throw this._explain(e, `merging shards ${leftId} and ${rightId}`);
    }
    this._commit(v, srcIsRight ? [[rightKey, null]] : [[leftKey, rightId], [rightKey, null]], false);
    this.merges++;
    await this._destroy(src);
    const hi = pos + 1 < this.lefts.length ? this.lefts[pos + 1]! : this.cfg.space;
    const ev: MergeEvent = { structure: this.cfg.name, kind: this.cfg.kind, into: dst, removed: src, lo: leftKey, hi, version: v, bytes: moved.bytes, forced: force };
    contextOf(this).cluster.publish('merge', ev);
    return ev;
  }

  async _relieve(id: string, need: number): Promise<string> {
    this._live();
    if (!this.ids.includes(id)) return 'rerouted';
    const cluster = contextOf(this).cluster;
    const stats = await cluster.stats();
    const me = stats.proclets.find((p) => p.id === id);
    if (me === undefined) return 'rerouted';
    const live = stats.nodes.filter((n) => !n.lost);
    const free = (n: { memory: number; memoryUsed: number }): number => Math.max(0, n.memory - n.memoryUsed);
    const here = live.find((n) => n.id === me.node);
    const others = live.filter((n) => n.id !== me.node).sort((a, b) => free(b) - free(a));
    const best = others[0];
    if (best !== undefined && free(best) >= me.size + need) {
      try {
        await cluster.migrate(this._ref(id), best.id, 'memory-pressure');
        return 'migrated';
      } catch (e) {
        if (!hasErrorCode(e, 'QS_ERR_MEMORY_BUDGET') && !hasErrorCode(e, 'QS_ERR_MIGRATION')) throw e;
      }
    }
    // A split moves half of the shard to the node with the most free memory (where the
    // controller places the new shard); it helps when that node can take half and the write.
    if (best !== undefined && free(best) >= me.size / 2 + need) {
      try {
        if ((await this._split(id, true)) !== null) return 'split';
      } catch (e) {
        if (!hasErrorCode(e, 'QS_ERR_MEMORY_BUDGET')) throw e;
      }
    }
    const total = live.reduce((a, n) => a + n.memory, 0);
    const totalFree = live.reduce((a, n) => a + free(n), 0);
    throw new MemoryBudgetError(
      `${this._what()} cannot grow by ${formatBytes(need)}: its shard ${id} is on node ${me.node}, which holds ${formatBytes(here?.memoryUsed ?? 0)} of its ${formatBytes(here?.memory ?? 0)} budget, ` +
        `and no other node can take it or half of it (the most free on one node is ${formatBytes(best === undefined ? 0 : free(best))}; ` +
        `${formatBytes(totalFree)} free of ${formatBytes(total)} across ${live.length} node${live.length === 1 ? '' : 's'}). ` +
        'The cluster is out of memory for this structure: add nodes, raise their memory budgets, or remove data.',
      { data: { structure: this.cfg.name, shard: id, node: me.node, need, free: totalFree, total } },
    );
  }

  async _destroy(id: string): Promise<void> {
    this._refs.delete(id);
    await contextOf(this)
      .cluster.destroy(id)
      .catch(() => undefined);
  }

  _explain(e: unknown, what: string): unknown {
    if (hasErrorCode(e, 'QS_ERR_MEMORY_BUDGET')) {
      return new MemoryBudgetError(`${this._what()}: ${what} failed, so the shard stays as it is: ${e.message}`, { cause: e, data: { structure: this.cfg.name } });
    }
    return e;
  }
}

function ignoreGone(e: unknown): void {
  if (!hasErrorCode(e, 'QS_ERR_PROCLET_NOT_FOUND')) throw e;
}

/** First position whose value is >= x. */
export function lowerBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** @internal */
export const ShardIndexType = defineProclet('quicksand.shard.Index', ShardIndex, {
  module: import.meta.url,
  save: (ix: ShardIndex): IndexState => ({
    cfg: ix.cfg,
    version: ix.version,
    lefts: ix.lefts,
    ids: ix.ids,
    log: ix.log,
    dead: ix.dead,
    splits: ix.splits,
    merges: ix.merges,
  }),
  restore: (s: IndexState): ShardIndex => {
    const ix = new ShardIndex(s.cfg);
    ix.version = s.version;
    ix.lefts = s.lefts;
    ix.ids = s.ids;
    ix.log = s.log;
    ix.dead = s.dead;
    ix.splits = s.splits;
    ix.merges = s.merges;
    return ix;
  },
});
