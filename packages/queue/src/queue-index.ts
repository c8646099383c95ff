/**
 * The queue index: a memory proclet keeping the ordered list of a queue's segments, its
 * counters, its capacity permits and its closed flag. It is asked for the head or tail
 * only when a client has no valid cached segment, and once per push batch for permits
 * when the queue is bounded.
 *
 * Semantics:
 * - Growth: the index keeps one spare segment ready for the tail (placed by the
 *   controller on the node with the most free memory) and hands it over with `prepare`.
 *   The tail seals itself into the spare when it passes its byte bound and reports it
 *   (`advanced`); the index appends the spare to the list and prepares the next spare.
 *   A tail that fills while it has no spare asks `grow`.
 * - Reclaim: a sealed segment that is empty asks `drained`; the index removes it from the
 *   list and destroys it. The tail is never reclaimed. `drained` and `close` carry the
 *   links they cross, so the list catches up even if an `advanced` report is late.
 * - Capacity: `acquire(n)` grants up to `n` permits at once (at least one), in FIFO order
 *   of requests, or parks the request until takes release permits. Permits are released
 *   by the segments' reports of taken items.
 * - `grow`, `drained`, `close` and `destroyAll` run one at a time (a lock), so a close
 *   always reaches the final tail. A parked `acquire` is not a tracked call: saving the
 *   index (migration) answers it 0, and the client asks again.
 *
 * Invariants: `segments` lists every live segment in queue order, head first; the items
 * in the queue are at most `capacity` plus the permits granted and not yet appended.
 */
import { contextOf, defineProclet } from '@quicksand/core';
import { SegmentType, queueClosedError } from './segment.js';
import type { QueueSegment, SegmentInfo } from './segment.js';

/** Counters of a queue. */
export interface QueueStats {
  /** Items pushed and not yet popped. */
  length: number;
  /** Items pushed since creation. */
  pushed: number;
  /** Items popped since creation. */
  popped: number;
  /** Most items the queue holds; 0 when unbounded. */
  capacity: number;
  /** True once closed. */
  closed: boolean;
  /** Segments (memory proclets) holding the items now. */
  segments: number;
  /** Segments that have held items of the queue since its creation (the first one included). */
  segmentsCreated: number;
  /** Segments reclaimed after they drained. */
  segmentsReclaimed: number;
}

/**
 * @internal What rate matching reads from a queue: its counters, and the pops the index
 * heard of since `after` (a `popped` count), dated on the index's clock. Reports come a hop
 * after the takes, so a burst of takes is dated to within that hop, however late the
 * answer reaches the caller; the caller maps the clock onto its own.
 */
export interface RateSample extends QueueStats {
  /** Takes that found the queue empty (they waited, or came back empty), since creation. */
  starved: number;
  /**
   * When the consumers last waited (the index's clock): the latest report of a take that
   * found the queue empty or of a waiting take served; null when none has waited yet.
   * Pops up to then measure what the producers delivered, not what the consumers asked.
   */
  waitedAt: number | null;
  /** The index's clock (`performance.now()` of its process) when it answered. */
  at: number;
  /** Names the index's clock: its process's `performance.timeOrigin`; it changes when the index migrates. */
  clock: number;
  /** Flat pairs: the time of a report (the index's clock), and `popped` after it; oldest first. */
  pops: number[];
}

/** Pop reports the index keeps for rate matching. */
const POP_LOG = 512;

/** @internal What a client needs to start: capacity and the current ends. */
export interface QueueConfig {
  capacity: number;
  head: string;
  tail: string;
}

interface PermitWaiter {
  n: number;
  resolve: (granted: number) => void;
  reject: (e: unknown) => void;
}

interface IndexState {
  capacity: number;
  segmentBytes: number;
  segments: string[];
  spare: string | null;
  held: number;
  pushed: number;
  popped: number;
  /** Absent in states saved before it was kept. */
  starved?: number;
  closed: boolean;
  created: number;
  reclaimed: number;
  /** The pop log as [age in ms, popped] pairs (clocks differ between nodes); absent in older states. */
  pops?: number[];
  /** Age in ms of `waitedAt`; absent when no consumer has waited (or in older states). */
  waitedAge?: number;
}

/** @internal The index proclet of a sharded queue. */
export class QueueIndex {
  capacity: number;
  segmentBytes: number;
  segments: string[] = [];
  /** The prepared successor of the tail, not in `segments` yet. */
  spare: string | null = null;
  /** Permits granted and not yet released (bounded queues). */
  held = 0;
  pushed = 0;
  popped = 0;
  /** Takes that found the queue empty (reported by the segments). */
  starved = 0;
  closed = false;
  created = 0;
  reclaimed = 0;
  /** Recent pop reports: [performance.now(), popped] pairs, oldest first, at most POP_LOG. */
  #popLog: number[] = [];
  /** performance.now() of the latest report of a take that waited (see RateSample.waitedAt). */
  #waitedAt: number | null = null;
  #waiters = new Map<string, PermitWaiter>();
  #lock: Promise<unknown> = Promise.resolve();

  constructor(capacity: number, segmentBytes: number) {
    this.capacity = capacity;
    this.segmentBytes = segmentBytes;
  }

  /** Creates the first segment, on this node, and its spare. */
  async init(): Promise<QueueConfig> {
    await this.#locked(async () => {
      if (this.segments.length > 0) return;
      const ctx = contextOf(this);
      const seg = await ctx.cluster.create(SegmentType, [ctx.id, this.segmentBytes], { node: ctx.node });
      this.segments.push(seg.id);
      this.created++;
      await this.#prepareFor(seg.id);
    });
    return this.config();
  }

  /** Capacity and the current head and tail segments. */
  config(): QueueConfig {
    return { capacity: this.capacity, head: this.head(), tail: this.tail() };
  }

  /** The segment consumers take from. */
  head(): string {
    return this.segments[0] ?? '';
  }

  /** The segment producers append to. */
  tail(): string {
    return this.segments[this.segments.length - 1] ?? '';
  }

  /**
   * Grants up to `n` permits to push (all of them when unbounded); parks while the queue
   * is full. Resolves 0 when the index moved (ask again) and -1 when cancelled.
   * @throws ClosedError when the queue is closed.
   */
  async acquire(n: number, waitId: string): Promise<number> {
    if (this.closed) throw queueClosedError(contextOf(this).id);
    if (this.capacity === 0) return n;
    const free = this.capacity - this.held;
    if (free > 0 && this.#waiters.size === 0) {
      const granted = Math.min(n, free);
      this.held += granted;
      return granted;
    }
    return new Promise<number>((resolve, reject) => {
      this.#waiters.set(waitId, { n, resolve, reject });
    });
  }

  /** Ends a parked acquire with -1; false when it is no longer parked. */
  cancelAcquire(waitId: string): boolean {
    const w = this.#waiters.get(waitId);
    if (w === undefined) return false;
    this.#waiters.delete(waitId);
    w.resolve(-1);
    return true;
  }

  /**
   * A segment's batched report: items appended to it and taken from it, takes that found it
   * empty, and waiting takes served.
   */
  report(appended: number, taken: number, starved = 0, served = 0): void {
    this.pushed += appended;
    this.popped += taken;
    this.starved += starved;
    const now = performance.now();
    if (starved > 0 || served > 0) this.#waitedAt = now;
    if (taken > 0) {
      if (this.#popLog.length >= 2 * POP_LOG) this.#popLog.splice(0, POP_LOG);
      this.#popLog.push(now, this.popped);
    }
    if (this.capacity === 0 || taken === 0) return;
    this.held = Math.max(0, this.held - taken);
    for (const [id, w] of this.#waiters) {
      const free = this.capacity - this.held;
      if (free <= 0) break;
      const granted = Math.min(w.n, free);
      this.held += granted;
      this.#waiters.delete(id);
      w.resolve(granted);
    }
  }

  /** The tail `from` sealed itself into `to`: `to` is the tail now; prepare its spare. */
  async advanced(from: string, to: string): Promise<void> {
    await this.#locked(async () => {
      if (this.#link(from, to) && !this.closed) await this.#prepareFor(to);
    });
  }

  /** The tail `from` is full and has no spare: prepare one (if it is still the tail). */
  async grow(from: string): Promise<void> {
    await this.#locked(async () => {
      if (from === this.tail() && this.spare === null && !this.closed) await this.#prepareFor(from);
    });
  }

  /** Appends `to` after the tail `from`; false when that link is known already. */
  #link(from: string, to: string): boolean {
    if (this.tail() !== from || this.segments.includes(to)) return false;
    this.segments.push(to);
    this.created++;
    if (this.spare === to) this.spare = null;
    return true;
  }

  /** Creates a spare for `tail` where memory is free, and hands it over. */
  async #prepareFor(tail: string): Promise<void> {
    const ctx = contextOf(this);
    const seg = await ctx.cluster.create(SegmentType, [ctx.id, this.segmentBytes]);
    this.spare = seg.id;
    const taken = await ctx.cluster.ref<QueueSegment>(tail).call('prepare', seg.id);
    if (!taken && this.spare === seg.id) {
      this.spare = null;
      await ctx.cluster.destroy(seg);
    }
  }

  /** A sealed segment is empty: forget and destroy it. */
  async drained(segment: string, next: string | null): Promise<void> {
    await this.#locked(async () => {
      if (next !== null && this.#link(segment, next) && !this.closed) await this.#prepareFor(next);
      const i = this.segments.indexOf(segment);
      if (i < 0 || i === this.segments.length - 1) return;
      this.segments.splice(i, 1);
      this.reclaimed++;
      await contextOf(this).cluster.destroy(segment);
    });
  }

  /** Closes the queue: pushes fail from now on; takes drain what is left. */
  async close(): Promise<void> {
    await this.#locked(async () => {
      if (this.closed) return;
      this.closed = true;
      this.#rejectWaiters();
      const cluster = contextOf(this).cluster;
      // Follow the links: the tail may have sealed itself into its spare a moment ago.
      for (let id = this.tail(); id !== ''; ) {
        const next = await cluster.ref<QueueSegment>(id).call('close');
        if (next === null) break;
        this.#link(id, next);
        id = next;
      }
      if (this.spare !== null) {
        const spare = this.spare;
        this.spare = null;
        await cluster.destroy(spare);
      }
    });
  }

  /** Counters. */
  stats(): QueueStats {
    return {
      length: Math.max(0, this.pushed - this.popped),
      pushed: this.pushed,
      popped: this.popped,
      capacity: this.capacity,
      closed: this.closed,
      segments: this.segments.length,
      segmentsCreated: this.created,
      segmentsReclaimed: this.reclaimed,
    };
  }

  /** Counters and the pops reported since `after` (popped), for rate matching. */
  rateSample(after: number): RateSample {
    const log = this.#popLog;
    let i = log.length;
    while (i >= 2 && log[i - 1]! > after) i -= 2;
    return {
      ...this.stats(),
      starved: this.starved,
      waitedAt: this.#waitedAt,
      at: performance.now(),
      clock: performance.timeOrigin,
      pops: log.slice(i),
    };
  }

  /** Size and place of every segment, head first. */
  segmentInfo(): Promise<SegmentInfo[]> {
    // Under the lock, as reclaiming a drained segment is: every id asked is still live.
    return this.#locked(() => {
      const cluster = contextOf(this).cluster;
      return Promise.all(this.segments.map((id) => cluster.ref<QueueSegment>(id).call('info')));
    });
  }

  /** Closes the queue and destroys its segments (the caller then destroys the index). */
  async destroyAll(): Promise<void> {
    await this.#locked(async () => {
      this.closed = true;
      this.#rejectWaiters();
      const cluster = contextOf(this).cluster;
      const segs = this.segments.splice(0);
      if (this.spare !== null) segs.push(this.spare);
      this.spare = null;
      await Promise.all(segs.map((id) => cluster.destroy(id)));
    });
  }

  #rejectWaiters(): void {
    const err = queueClosedError(contextOf(this).id);
    const ws = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of ws) w.reject(err);
  }

  #locked<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** State to migrate: parked acquires are answered 0 (ask again) first. */
  static save(ix: QueueIndex): IndexState {
    const ws = [...ix.#waiters.values()];
    ix.#waiters.clear();
    for (const w of ws) w.resolve(0);
    return {
      capacity: ix.capacity,
      segmentBytes: ix.segmentBytes,
      segments: ix.segments,
      spare: ix.spare,
      held: ix.held,
      pushed: ix.pushed,
      popped: ix.popped,
      starved: ix.starved,
      closed: ix.closed,
      created: ix.created,
      reclaimed: ix.reclaimed,
      pops: ages(ix.#popLog),
      ...(ix.#waitedAt === null ? {} : { waitedAge: performance.now() - ix.#waitedAt }),
    };
  }

  /** Rebuilds a migrated index. */
  static restore(s: IndexState): QueueIndex {
    const ix = new QueueIndex(s.capacity, s.segmentBytes);
    ix.segments = s.segments;
    ix.spare = s.spare;
    ix.held = s.held;
    ix.pushed = s.pushed;
    ix.popped = s.popped;
    ix.starved = s.starved ?? 0;
    ix.closed = s.closed;
    ix.created = s.created;
    ix.reclaimed = s.reclaimed;
    ix.#popLog = ages(s.pops ?? []); // ages back to this process's clock
    ix.#waitedAt = s.waitedAge === undefined ? null : performance.now() - s.waitedAge;
    return ix;
  }
}

/** @internal */
export const IndexType = defineProclet('quicksand.queue.Index', QueueIndex, {
  module: import.meta.url,
  save: (ix) => QueueIndex.save(ix),
  restore: (s: IndexState) => QueueIndex.restore(s),
});

/** [time, x] pairs to [now - time, x] pairs (and back: the map is its own inverse). */
function ages(log: number[]): number[] {
  const now = performance.now();
  return log.map((v, i) => (i % 2 === 0 ? now - v : v));
}
