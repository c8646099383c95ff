/**
 * A queue segment: a memory proclet holding a run of consecutive items of one queue.
 *
 * Semantics:
 * - Producers append to the tail segment; consumers take from the head segment. The
 *   index gives the tail a prepared successor (a spare, already placed on a node with
 *   free memory); when an append takes the tail past its byte bound, the tail seals
 *   itself on the spot with the spare as `next`, tells the index, and from then on
 *   refuses appends (answering `redirect`). So a segment exceeds its bound by at most one
 *   append, unless its spare is still being made. When its last item is taken, a sealed
 *   segment answers takes with `next` and asks the index to reclaim it.
 * - A take gets items, or (when it may wait) parks until items arrive, the segment is
 *   sealed (`next`) or closed while empty (`closed`). A parked take is not a tracked call
 *   (the method is atomic and returns a pending promise), so it never holds up a
 *   migration: saving the segment answers every parked take `retry`, and the caller takes
 *   again wherever the segment is now.
 * - Appends and takes are reported to the index in batches (one call per turn of the
 *   event loop), which keeps the queue's counters and releases capacity permits.
 *
 * Invariants: items leave in the order they arrived; each item is handed to exactly one
 * take (appends and takes are atomic methods, and the kernel runs each call once, also
 * across migrations); a sealed segment never gains items; a segment is reclaimed only
 * when sealed and empty.
 *
 * Not handled: items lost with a node that dies.
 */
import { ClosedError, contextOf, defineProclet } from '@quicksand/core';
import { approxBytes } from './sizes.js';
import type { QueueIndex } from './queue-index.js';

/** Answer to a take. */
export interface TakeResult {
  /** Items taken, oldest first (possibly none for a take that may not wait). */
  items?: unknown[];
  /** This segment is sealed and empty: continue at this segment. */
  next?: string;
  /** The queue is closed and this (tail) segment is empty. */
  closed?: true;
  /** The segment moved while the take waited: take again. */
  retry?: true;
  /** The wait was cancelled by its caller. */
  cancelled?: true;
}

/** Answer to an append: null when taken, else where to append instead. */
export type AppendResult = null | { redirect: string };

/** Sizes and place of one segment. */
export interface SegmentInfo {
  /** The segment proclet's id. */
  id: string;
  /** The node holding it. */
  node: string;
  /** Items it holds. */
  length: number;
  /** Estimated bytes it holds. */
  bytes: number;
}

interface Waiter {
  max: number;
  resolve: (r: TakeResult) => void;
}

interface SegmentState {
  index: string;
  maxBytes: number;
  items: unknown[];
  bytes: number;
  sealed: boolean;
  next: string | null;
  spare: string | null;
  closed: boolean;
}

/** Compact the item array once this many taken slots lead it. */
const COMPACT_AT = 1024;

/** @internal What a push into the closed queue `queue` (its index id) fails with. */
export function queueClosedError(queue: string): ClosedError {
  return new ClosedError(`queue ${queue} is closed; nothing more can be pushed`, { data: { queue } });
}

/** @internal A queue segment proclet. */
export class QueueSegment {
  index: string;
  maxBytes: number;
  items: unknown[] = [];
  /** Index of the first item not taken yet. */
  head = 0;
  bytes = 0;
  sealed = false;
  next: string | null = null;
  /** The prepared successor, used once this segment is full. */
  spare: string | null = null;
  closed = false;
  #waiters = new Map<string, Waiter>();
  #appended = 0;
  #taken = 0;
  /** Takes that found the segment empty (they parked, or came back empty), not yet reported. */
  #starved = 0;
  /** Parked takes an append served, not yet reported: their consumers waited until now. */
  #served = 0;
  #reportQueued = false;
  #growing = false;
  #reclaimed = false;

  constructor(index: string, maxBytes: number) {
    this.index = index;
    this.maxBytes = maxBytes;
  }

  /** Appends items; refused with `redirect` once sealed. @throws ClosedError when the queue is closed. */
  append(items: unknown[]): AppendResult {
    if (this.sealed) return { redirect: this.next! };
    if (this.closed) throw queueClosedError(this.index);
    if (!Array.isArray(items)) throw new TypeError('append expects an array of items');
    let i = 0;
    // Parked takes are served first: the queue was empty when they parked.
    for (const [id, w] of this.#waiters) {
      if (i >= items.length) break;
      const k = Math.min(w.max, items.length - i);
      this.#waiters.delete(id);
      w.resolve({ items: items.slice(i, i + k) });
      i += k;
      this.#served++;
    }
    this.#taken += i;
    let added = 0;
    for (; i < items.length; i++) {
      const item = items[i];
      this.items.push(item);
      added += approxBytes(item);
    }
    this.#appended += items.length;
    if (added > 0) {
      this.bytes += added;
      contextOf(this).setSize(this.bytes);
    }
    this.#report();
    if (this.bytes > this.maxBytes) {
      if (this.spare !== null) this.#sealInto(this.spare);
      else if (!this.#growing) this.#grow();
    }
    return null;
  }

  /**
   * Takes up to `max` items. With a non-empty `waitId`, an empty open segment parks the
   * take until something happens (see the file comment); `cancel(waitId)` ends the wait.
   */
  async take(max: number, waitId: string): Promise<TakeResult> {
    if (this.items.length > this.head) return this.#takeNow(max);
    if (this.sealed) {
      this.#reclaim();
      return { next: this.next! };
    }
    if (this.closed) return { closed: true };
    this.#starved++;
    this.#report();
    if (waitId === '') return { items: [] };
    return new Promise<TakeResult>((resolve) => {
      this.#waiters.set(waitId, { max: Math.max(1, max), resolve });
    });
  }

  /** Ends a parked take with `cancelled`; false when it is no longer parked. */
  cancel(waitId: string): boolean {
    const w = this.#waiters.get(waitId);
    if (w === undefined) return false;
    this.#waiters.delete(waitId);
    w.resolve({ cancelled: true });
    return true;
  }

  /**
   * Gives this segment its successor-to-be (from the index). Answers false when it can
   * take no successor any more (closed, or sealed already).
   */
  prepare(spare: string): boolean {
    if (this.sealed || this.closed) return false;
    this.spare = spare;
    if (this.bytes > this.maxBytes) this.#sealInto(spare);
    return true;
  }

  /**
   * Marks the queue closed here: once empty, takes answer `closed`. A segment sealed
   * already is not the tail: it answers the id of its successor, to be closed instead.
   */
  close(): string | null {
    if (this.sealed) return this.next;
    this.closed = true;
    if (this.items.length === this.head) this.#wakeAll({ closed: true });
    return null;
  }

  /** Size and place. */
  info(): SegmentInfo {
    const ctx = contextOf(this);
    return { id: ctx.id, node: ctx.node, length: this.items.length - this.head, bytes: this.bytes };
  }

  /** Runtime hook: a destroyed segment sends parked takes to look again. */
  onDestroy(): void {
    this.#wakeAll({ retry: true });
  }

  #takeNow(max: number): TakeResult {
    const avail = this.items.length - this.head;
    const k = Math.min(Math.max(1, max), avail);
    const from = this.head;
    const out = this.items.slice(from, from + k);
    this.head += k;
    this.bytes = avail === k ? 0 : Math.round((this.bytes * (avail - k)) / avail);
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else {
      // Let the taken items be collected; a dropped or compacted array goes as a whole.
      for (let i = from; i < this.head; i++) this.items[i] = undefined;
    }
    contextOf(this).setSize(this.bytes);
    this.#taken += k;
    this.#report();
    if (this.sealed && this.items.length === 0) {
      this.#reclaim();
      return { items: out, next: this.next! };
    }
    return { items: out };
  }

  #sealInto(next: string): void {
    this.sealed = true;
    this.next = next;
    this.spare = null;
    const id = contextOf(this).id;
    this.#indexRef()
      .call('advanced', id, next)
      .catch(() => undefined); // the index learns the link again from `drained` or `close`
    if (this.items.length === this.head) {
      this.#wakeAll({ next });
      this.#reclaim();
    }
  }

  #wakeAll(r: TakeResult): void {
    const ws = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of ws) w.resolve(r);
  }

  #indexRef() {
    return contextOf(this).cluster.ref<QueueIndex>(this.index);
  }

  #report(): void {
    if (this.#reportQueued) return;
    this.#reportQueued = true;
    queueMicrotask(() => this.#flushReport());
  }

  #flushReport(): void {
    this.#reportQueued = false;
    const appended = this.#appended;
    const taken = this.#taken;
    const starved = this.#starved;
    const served = this.#served;
    if (appended === 0 && taken === 0 && starved === 0) return;
    this.#appended = 0;
    this.#taken = 0;
    this.#starved = 0;
    this.#served = 0;
    this.#indexRef()
      .call('report', appended, taken, starved, served)
      .catch(() => undefined); // the index is gone only when the queue was destroyed
  }

  #grow(): void {
    this.#growing = true;
    const id = contextOf(this).id;
    this.#indexRef()
      .call('grow', id)
      .catch(() => {
        // No room for a successor now: keep appending here and ask again later.
        this.#growing = false;
      });
  }

  #reclaim(): void {
    if (this.#reclaimed) return;
    this.#reclaimed = true;
    const id = contextOf(this).id;
    this.#indexRef()
      .call('drained', id, this.next)
      .catch(() => {
        this.#reclaimed = false;
      });
  }

  /** State to migrate: reports are flushed and parked takes told to retry first. */
  static save(seg: QueueSegment): SegmentState {
    seg.#flushReport();
    seg.#wakeAll({ retry: true });
    return {
      index: seg.index,
      maxBytes: seg.maxBytes,
      items: seg.items.slice(seg.head),
      bytes: seg.bytes,
      sealed: seg.sealed,
      next: seg.next,
      spare: seg.spare,
      closed: seg.closed,
    };
  }

  /** Rebuilds a migrated segment. */
  static restore(s: SegmentState): QueueSegment {
    const seg = new QueueSegment(s.index, s.maxBytes);
    seg.items = s.items;
    seg.bytes = s.bytes;
    seg.sealed = s.sealed;
    seg.next = s.next;
    seg.spare = s.spare;
    seg.closed = s.closed;
    return seg;
  }
}

/** @internal */
export const SegmentType = defineProclet('quicksand.queue.Segment', QueueSegment, {
  module: import.meta.url,
  save: (s) => QueueSegment.save(s),
  restore: (s: SegmentState) => QueueSegment.restore(s),
});
