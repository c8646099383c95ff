/**
 * The shard side of the sharding protocol, shared by every structure: each shard is a
 * memory proclet owning one key range `[lo, hi)` of its structure. Structures extend
 * {@link ShardBase} and plug in how their data is cut, taken and added (`_cut`, `_takeAll`,
 * `_add`), where a split should cut (`_splitKey`), and how many elements they hold.
 *
 * Semantics:
 * - Every operation names its key(s); a shard that does not own a key refuses the whole
 *   operation with `StaleRouteError` (`data.reason` `'range'`, `data.version` the routes
 *   version at which its current range took effect). Clients refresh and retry.
 * - Split (`splitOut`): the shard creates its new sibling (placed by the controller where
 *   memory is free), then in one atomic step picks the split key, cuts the data above it
 *   and shrinks its range; then it hands the data to the sibling. The index switches the
 *   routes afterwards. Until then keys above the cut are refused with the new version,
 *   which clients wait for at the index. If the hand-over fails, the data is put back.
 * - Merge (`mergeOut`): the shard gives all its data and its range to a neighbour, which
 *   extends its range (`absorb`); the index then drops the shard's route and destroys it.
 * - Accounting: element bytes are added up as writes happen and reported to the kernel
 *   (`setSize`) in steps of a sixteenth of the bound, so the node's memory budget and the
 *   controller's placement follow real use. Before a write that grows the shard, the
 *   shard checks (at the same granularity) that its node's budget has room, and that it
 *   is not far past its own bound; otherwise the write is refused with reason `'memory'`
 *   or `'full'` and the client asks the index to relieve or split the shard first.
 *
 * Invariants: a key is owned by at most one shard at any moment (the old owner shrinks
 * before the new one grows); data never exists in two shards; `bytes` is the sum of the
 * accounted sizes of the elements held.
 *
 * Not handled: budgets are checked at a granularity (a sixteenth of `maxShardBytes`, at
 * least 1 KiB) per shard, so a node can overshoot its budget by that much per shard
 * growing on it at the same moment.
 */
import { MemoryBudgetError, StaleRouteError, contextOf, formatBytes, hasErrorCode } from '@quicksand/core';
import type { ProcletType, Ref } from '@quicksand/core';
import type { ShardConfig } from './options.js';
import { STALE_FULL, STALE_MEMORY, STALE_RANGE } from './protocol.js';
import type { ShardStat, SplitOut } from './protocol.js';

/** Bytes charged per shard on top of its elements. */
const SHARD_OVERHEAD = 512;

/** @internal Saved state common to every shard. */
export interface ShardBaseState {
  index: string;
  cfg: ShardConfig;
  lo: number;
  hi: number;
  version: number;
  bytes: number;
}

/** The index as a shard sees it. */
interface IndexOps {
  requestSplit(shard: string): Promise<unknown>;
  requestMerge(shard: string): Promise<unknown>;
}

/** @internal The proclet type of a shard class: constructor `(index, cfg, lo, hi, version)`. */
export type ShardType = ProcletType<ShardBase, [index: string, cfg: ShardConfig, lo: number, hi: number, version: number]>;

/**
 * @internal Base class of shard proclets. Subclasses keep their constructor signature
 * `(index, cfg, lo, hi, version)` and register with `defineProclet`.
 */
export abstract class ShardBase {
  /** Id of the index proclet. */
  index: string;
  cfg: ShardConfig;
  /** First key owned. */
  lo: number;
  /** End of the keys owned (exclusive); `lo === hi` owns nothing. */
  hi: number;
  /** Routes version at which the current range took effect. */
  version: number;
  /** Accounted bytes of the elements held. */
  bytes = 0;
  _ix: Ref<IndexOps> | null = null;
  _admitAt = 0;
  _hiMark = 0;
  _loMark = -1;
  _splitting = false;

  constructor(index: string, cfg: ShardConfig, lo: number, hi: number, version: number) {
    this.index = index;
    this.cfg = cfg;
    this.lo = lo;
    this.hi = hi;
    this.version = version;
  }

  // ------------------------------------------------------------ hooks for structures

  /** The registered type, to create siblings of the same type. */
  abstract _type(): ShardType;
  /** Elements held. */
  abstract _count(): number;
  /** Where a split should cut (`lo < k < hi`), or null when there is nothing to split. */
  abstract _splitKey(force: boolean): number | null;
  /** Removes and returns the data with keys `>= at`, as plain data, with its bytes and count. */
  abstract _cut(at: number): { payload: unknown; bytes: number; count: number };
  /** Removes and returns all the data. */
  abstract _takeAll(): unknown;
  /** Adds data covering `[lo, hi)`, adjacent to the current range (or the first data). */
  abstract _add(payload: unknown, lo: number, hi: number): void;
  /** Drops all the data. */
  abstract _clear(): void;

  /** Bytes past which this shard asks to split (structures may seal earlier). */
  _splitBound(): number {
    return this.cfg.maxShardBytes;
  }

  // ------------------------------------------------------------ routing

  /** The refusal for a key this shard does not own. */
  _stale(key: number, reason: string = STALE_RANGE, need = 0): StaleRouteError {
    const what = reason === STALE_RANGE ? `does not own key ${key} (it owns [${this.lo}, ${this.hi}) since routes version ${this.version})` : reason === STALE_FULL ? `is past twice its bound (${this.bytes} bytes) while a split is due` : `has no room on its node for ${need} more bytes (its node's budget is used up)`;
    return new StaleRouteError(`shard ${this._id()} of ${this.cfg.kind} '${this.cfg.name}' ${what}; the client refreshes its routes and retries`, {
      data: { version: this.version, reason, need, lo: this.lo, hi: this.hi },
    });
  }

  _id(): string {
    try {
      return contextOf(this).id;
    } catch {
      return '(detached)';
    }
  }

  // ------------------------------------------------------------ accounting

  /** Call before a write that grows the shard by `delta` bytes; may refuse it. */
  _admit(delta: number): void {
    if (this.bytes + delta > this._admitAt) this._admitSlow(delta);
  }

  _admitSlow(delta: number): void {
    const next = this.bytes + delta;
    const max = this.cfg.maxShardBytes;
    if (this.cfg.autoSplit && next > 2 * max && this.bytes > max) {
      this._askSplit();
      throw this._stale(this.lo, STALE_FULL, delta);
    }
    const ctx = contextOf(this);
    const mem = ctx.memory();
    // Room for this shard on its node: the budget less what every other proclet there
    // holds or has reserved (this shard's own report, ctx.size, is replaced below).
    const room = mem.budget - (mem.used - ctx.size) - SHARD_OVERHEAD;
    if (next > room && delta > 0) {
      this._report(ctx); // so the index, relieving this node, sees what the shard holds
      throw this._stale(this.lo, STALE_MEMORY, delta);
    }
    // Admit growth up to a step, or a sixteenth of the node's headroom, without checking
    // again, and reserve it in the node's accounting at once: shards growing together on
    // one node then never admit more than the node has, and check more and more often as
    // it fills.
    let at = next + Math.min(this._step(), Math.floor((room - next) / 16));
    if (this.cfg.autoSplit && this.bytes <= max) at = Math.min(at, 2 * max + 1);
    this._admitAt = at;
    ctx.setSize(at + SHARD_OVERHEAD);
  }

  /**
   * Reports what this shard holds, plus the growth it has admitted and not used yet (a
   * reservation), to the node's accounting.
   */
  _report(ctx: { setSize(bytes: number): void }): void {
    ctx.setSize(Math.max(this.bytes, this._admitAt) + SHARD_OVERHEAD);
  }

  /** Throws MemoryBudgetError unless this node has room for `bytes` more (moves between shards). */
  _roomFor(bytes: number, what: string): void {
    const ctx = contextOf(this);
    const mem = ctx.memory();
    const room = mem.budget - (mem.used - ctx.size) - SHARD_OVERHEAD;
    if (this.bytes + bytes > room) {
      throw new MemoryBudgetError(`shard ${ctx.id} of ${this.cfg.kind} '${this.cfg.name}' cannot ${what} ${formatBytes(bytes)} on node ${ctx.node}: its budget has ${formatBytes(Math.max(0, room - this.bytes))} left`, {
        data: { shard: ctx.id, node: ctx.node, bytes },
      });
    }
  }

  /** Call after a write changed the shard's bytes by `delta`. */
  _changed(delta: number): void {
    const b = (this.bytes += delta);
    if (b > this._hiMark || b < this._loMark) this._resync(delta < 0);
  }

  _step(): number {
    return Math.max(1024, this.cfg.maxShardBytes >>> 4);
  }

  /**
   * Reports the size, asks for a split (past the bound) or a merge (shrinking below the
   * low-water mark), and sets the next marks: every step of growth past the bound, and
   * every step of shrinking below the low-water mark, asks again. The index shares
   * requests that have not started yet, so asking often costs little.
   */
  _resync(shrinking = false): void {
    const b = this.bytes;
    const step = this._step();
    let ctx;
    try {
      ctx = contextOf(this);
    } catch {
      return; // being moved or destroyed
    }
    // Shrinking returns the unused reservation: the next growth is admitted afresh.
    if (shrinking && this._admitAt > b) this._admitAt = b;
    this._report(ctx);
    const bound = this._splitBound();
    const low = this.cfg.lowWaterBytes;
    // Growing back to the low-water mark resyncs too, so that crossing it again (while
    // shrinking) asks for a merge again.
    this._hiMark = b > bound ? b + step : Math.min(b + step, bound, b < low ? low : Infinity);
    this._loMark = b < low ? b - step : Math.max(b - step, low - 1);
    if (b > bound && this.cfg.autoSplit) this._askSplit();
    else if (shrinking && b < low && this.cfg.autoMerge && this.lo < this.hi) this._ask('requestMerge');
  }

  _askSplit(): void {
    if (!this._splitting) this._ask('requestSplit');
  }

  /** A one-way request to the index; its failure (structure gone, node lost) is ignored. */
  _ask(method: 'requestSplit' | 'requestMerge'): void {
    this._indexRef()
      .call(method, contextOf(this).id)
      .catch(() => undefined);
  }

  _indexRef(): Ref<IndexOps> {
    return (this._ix ??= contextOf(this).cluster.ref<IndexOps>(this.index));
  }

  // ------------------------------------------------------------ protocol (called by the index)

  /** What this shard holds. */
  stat(): ShardStat {
    const ctx = contextOf(this);
    return { id: ctx.id, lo: this.lo, hi: this.hi, count: this._count(), bytes: this.bytes, version: this.version, node: ctx.node };
  }

  /**
   * Source half of a split at routes version `version`: creates the sibling on the node
   * with the most free memory, cuts the data above the split key and hands it over.
   * Resolves with where it cut, or null when there is nothing to split (or no need,
   * without `force`). A hand-over refused for memory (the node filled up meanwhile) is
   * put back and tried again elsewhere, up to three times.
   * @throws MemoryBudgetError when no node has room for the new half.
   */
  async splitOut(version: number, force: boolean): Promise<SplitOut | null> {
    if (this._splitting || this.lo >= this.hi) return null;
    if (!force && this.bytes <= this._splitBound()) return null;
    if (this._splitKey(force) === null) return null;
    this._splitting = true;
    try {
      const ctx = contextOf(this);
      let refused: unknown = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        const want = Math.floor(this.bytes / 2) + SHARD_OVERHEAD;
        const node = await this._roomiest(want);
        const sibling = await ctx.cluster.create(this._type(), [this.index, this.cfg, 0, 0, version], { node, size: want });
        const at = this._splitKey(force);
        if (at === null) {
          await ctx.cluster.destroy(sibling).catch(() => undefined);
          return null;
        }
        const oldHi = this.hi;
        const oldVersion = this.version;
        const cut = this._cut(at);
        this.hi = at;
        this.version = version;
        this._changed(-cut.bytes);
        this._admitAt = this.bytes;
        this._report(ctx); // so a sibling on this node sees the room the cut made
        try {
          await sibling.call('install', at, oldHi, cut.payload, cut.bytes, version);
          return { at, id: sibling.id, bytes: cut.bytes, count: cut.count, from: ctx.node };
        } catch (e) {
          this._add(cut.payload, at, oldHi);
          this.hi = oldHi;
          this.version = oldVersion;
          this._changed(cut.bytes);
          this._report(ctx);
          ctx.cluster.destroy(sibling).catch(() => undefined);
          if (!hasErrorCode(e, 'QS_ERR_MEMORY_BUDGET')) throw e;
          refused = e;
        }
      }
      throw refused;
    } finally {
      this._splitting = false;
    }
  }

  /**
   * The node with the most free memory now (live usage from every node), for a new shard
   * of `want` bytes; this shard's own node qualifies with any room, since a split there
   * only moves bytes within it.
   * @throws MemoryBudgetError when no node has room.
   */
  async _roomiest(want: number): Promise<string> {
    const ctx = contextOf(this);
    const stats = await ctx.cluster.stats();
    let best: string | null = null;
    let bestFree = -Infinity;
    for (const n of stats.nodes) {
      if (n.lost) continue;
      const free = n.memory - n.memoryUsed;
      if (free < (n.id === ctx.node ? SHARD_OVERHEAD : want)) continue;
      if (free > bestFree) {
        best = n.id;
        bestFree = free;
      }
    }
    if (best === null) {
      throw new MemoryBudgetError(`${this.cfg.kind} '${this.cfg.name}': no node has ${formatBytes(want)} free for a new shard; the cluster is out of memory for this structure: add nodes, raise their memory budgets, or remove data`, {
        data: { structure: this.cfg.name, need: want },
      });
    }
    return best;
  }

  /**
   * Splits this shard, while it is empty, into pieces at `cuts` (increasing, inside its
   * range) at routes version `version`, one new shard per cut on `nodes[i]`: the bulk
   * writers' pre-split, so that a large load into an empty structure moves no data.
   * Resolves with the new shards' ids, or null when the shard is not empty (any more).
   */
  async splitEmpty(version: number, cuts: number[], nodes: string[]): Promise<string[] | null> {
    if (this._splitting || this._count() > 0 || cuts.length === 0) return null;
    for (let i = 0; i < cuts.length; i++) {
      const c = cuts[i]!;
      if (!Number.isInteger(c) || c <= this.lo || c >= this.hi || (i > 0 && c <= cuts[i - 1]!)) throw new RangeError(`splitEmpty: cuts must increase strictly inside [${this.lo}, ${this.hi}), got ${cuts.join(', ')}`);
    }
    this._splitting = true;
    try {
      const ctx = contextOf(this);
      const made = await Promise.allSettled(cuts.map((_, i) => ctx.cluster.create(this._type(), [this.index, this.cfg, 0, 0, version], nodes[i] === undefined ? {} : { node: nodes[i] })));
      const sibs = made.flatMap((m) => (m.status === 'fulfilled' ? [m.value] : []));
      const drop = (): void => {
        for (const sib of sibs) ctx.cluster.destroy(sib).catch(() => undefined);
      };
      const failed = made.find((m) => m.status === 'rejected');
      if (failed !== undefined) {
        drop();
        throw failed.reason;
      }
      if (this._count() > 0 || this.lo >= this.hi) {
        drop();
        return null; // data arrived meanwhile: a normal split will do
      }
      const oldHi = this.hi;
      const oldVersion = this.version;
      const pieces = cuts.map((c, i) => ({ lo: c, hi: i + 1 < cuts.length ? cuts[i + 1]! : oldHi, payload: this._cut(c).payload }));
      this.hi = cuts[0]!;
      this.version = version;
      const done = await Promise.allSettled(sibs.map((sib, i) => sib.call('install', pieces[i]!.lo, pieces[i]!.hi, pieces[i]!.payload, 0, version)));
      const refused = done.find((d) => d.status === 'rejected');
      if (refused !== undefined) {
        this.hi = oldHi;
        this.version = oldVersion;
        drop();
        throw refused.reason;
      }
      return sibs.map((sib) => sib.id);
    } finally {
      this._splitting = false;
    }
  }

  /** Target half of a split: takes the data of `[lo, hi)` (this shard must own nothing yet). */
  install(lo: number, hi: number, payload: unknown, bytes: number, version: number): void {
    if (this.lo !== this.hi) throw new RangeError(`shard ${this._id()} already owns [${this.lo}, ${this.hi}); install needs an empty shard`);
    this._roomFor(bytes, 'take');
    this.lo = lo;
    this.hi = hi;
    this.version = version;
    this._add(payload, lo, hi);
    this._changed(bytes);
  }

  /**
   * Source half of a merge at routes version `version`: gives all the data and the range
   * to the neighbour `into`, and then owns nothing.
   */
  async mergeOut(version: number, into: string): Promise<{ lo: number; hi: number; bytes: number }> {
    if (this._splitting) throw new RangeError(`shard ${this._id()} is splitting; merge it afterwards`);
    const { lo, hi, bytes } = this;
    const oldVersion = this.version;
    const payload = this._takeAll();
    this.hi = this.lo;
    this.version = version;
    this._changed(-bytes);
    try {
      await contextOf(this).cluster.ref<ShardBase>(into).call('absorb', lo, hi, payload, bytes, version);
    } catch (e) {
      this._add(payload, lo, hi);
      this.hi = hi;
      this.version = oldVersion;
      this._changed(bytes);
      throw e;
    }
    return { lo, hi, bytes };
  }

  /** Target half of a merge: extends the range by the adjacent `[lo, hi)` and its data. */
  absorb(lo: number, hi: number, payload: unknown, bytes: number, version: number): void {
    if (hi !== this.lo && lo !== this.hi) throw new RangeError(`shard ${this._id()} owns [${this.lo}, ${this.hi}), which is not adjacent to [${lo}, ${hi})`);
    this._roomFor(bytes, 'absorb');
    this._add(payload, lo, hi);
    if (hi === this.lo) this.lo = lo;
    else this.hi = hi;
    this.version = version;
    this._changed(bytes);
  }

  /** Drops all data and owns nothing from routes version `version` on (clear, destroy). */
  retire(version: number): void {
    this._clear();
    this.hi = this.lo;
    this.version = version;
    this._changed(-this.bytes);
  }

  /** Drops all data and owns `[lo, hi)` from routes version `version` on (clear). */
  resetTo(lo: number, hi: number, version: number): void {
    this._clear();
    this.lo = lo;
    this.hi = hi;
    this.version = version;
    this._changed(-this.bytes);
  }

  // ------------------------------------------------------------ save and restore helpers

  /** The base fields, for a subclass's `save`. */
  _saveBase(): ShardBaseState {
    return { index: this.index, cfg: this.cfg, lo: this.lo, hi: this.hi, version: this.version, bytes: this.bytes };
  }

  /** Restores the base fields (call from a subclass's `restore` after construction). */
  _restoreBase(s: ShardBaseState): void {
    this.bytes = s.bytes;
  }
}
