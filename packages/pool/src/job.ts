/**
 * A job: one map, filter, forEach or reduce over a source, coordinated from the caller's
 * process and run by the pool's runners (compute proclets) on their nodes' workers.
 *
 * Semantics:
 * - Work is cut into chunks: contiguous ranges of source positions, each run by one
 *   runner in one worker message. A chunk starts at 1 element and grows 4x per finished
 *   chunk up to about `TARGET_CHUNK_MS` of measured worker time (at most 64Ki elements or
 *   about 1 MiB), so expensive elements spread over every worker from the first one and
 *   cheap ones travel in bulk. Each runner holds up to `DEPTH` chunks, so its worker
 *   never waits for a round trip.
 * - Ranged policy (an indexable source whose results are assembled at the end): every
 *   runner owns one contiguous range and cuts its chunks from the front of it. A runner
 *   whose range is used up steals the upper half of the largest remaining range. The
 *   range table lives here, in the coordinator, so a steal is a local decision that
 *   never races the owner: the owner simply cuts its next chunk from what is left.
 * - Front policy (a stream source, or results fed to a queue in order): chunks are cut
 *   from the front of the unassigned positions, so finished chunks stay close to the
 *   output's position and little waits for reordering. Positions past the output's
 *   position plus a window are not handed out, so a full output queue stops production.
 * - Splitting onto free CPU: at the start, runners on nodes whose CPUs are taken by other
 *   work are parked; every `LOAD_TICK_MS` the job looks again, and a parked runner whose
 *   node has a CPU free joins, taking half of the largest remaining range (a split).
 * - Rate matching (output to a queue): every `RATE_TICK_MS` the job reads the queue's
 *   counters (one read out at a time; a tick that finds one out reads again as soon as it
 *   is answered; a burst that would change the decision once its end is seen is read
 *   again as soon as it can be, not a tick later) and the pops its index logged, dated
 *   on the index's clock (mapped onto ours by the least request delay seen). The index
 *   dates waits too (the last take that found the queue empty, or waiting take served):
 *   after the last one the consumer never waited, so its pop rate is its demand,
 *   whatever the queue's length. A consumer takes items in bursts (a batch per GPU
 *   step), so the rate is taken from the end of one burst to the end of a later one, at
 *   least `RATE_WINDOW_MS` apart. A silence well past the consumer's step (its longest
 *   recent gap) counts as a slowdown; a window with a gap of twice its step in it is a
 *   stall (its process held up), not a rate, and is not used. What `n` active runners
 *   deliver is `n` over the median worker time per element of the last chunks run with
 *   `n` active: on a busy machine each of two runners is slower than one alone, and a
 *   busy moment makes a few chunks much slower. That time is at most the one measured
 *   since with more runners active (a runner is not slower with fewer beside it), so a
 *   count measured in a slow moment is not left looking too slow to shrink onto. The job
 *   keeps the fewest runners whose delivery covers the demand times a margin (1.15;
 *   onto a count already seen, with a fifth more room): extra ones are suspended (they
 *   get no chunks), unless the queue is draining; suspended ones resume when the demand
 *   is clearly (a tenth) above what the active ones make and the queue is draining. When
 *   a take found the queue empty the consumer starved: one more runner resumes per
 *   decision, and if that happens soon after a shrink the margin grows by a quarter (at
 *   most 2), which damps oscillation; it decays back in about a second, so that a
 *   consumer whose demand keeps changing does not ratchet it up. After a change the job
 *   waits one window before the next, and after a grow it shrinks on the demand only
 *   `SHRINK_AFTER_GROW_MS` later (a cooldown, as autoscalers hold back scaling down): a
 *   window that reads low so soon after the demand rose is more often a held-up consumer
 *   than a change. See `rateMatchMs` in the pool benchmark.
 * - A task that throws fails the job with a TaskError naming the element's position and
 *   carrying the original error as `cause`. An abort (signal) fails it with AbortedError.
 *   Either way every runner is told to cancel the job: running chunks stop between two
 *   elements, queued ones are dropped, and an output queue the job owns is closed.
 *
 * Invariants: every position is in exactly one chunk; each chunk's result reaches the
 * sink once; the job settles once; no chunk is handed out after it settles.
 */
import { AbortedError, TaskError } from '@quicksand/core';
import type { NodeStats, TaskSpec } from '@quicksand/core';
import { fromWireError } from '@quicksand/core/internal';
import type { RangeOp, RangeOutput } from '@quicksand/core/internal';
import { approxBytes } from '@quicksand/queue/internal';
import type { RateSample } from '@quicksand/queue/internal';
import type { PoolStats } from './pool.js';
import type { ExecRequest, Runner } from './runner.js';
import type { Ref } from '@quicksand/core';
import type { Sink } from './sinks.js';
import type { RangedSource, Source } from './sources.js';

/** How far a job has got. */
export interface JobProgress {
  /** Elements finished. */
  done: number;
  /** Elements in the source; undefined until a stream source ends. */
  total: number | undefined;
  /** Compute proclets taking work for this job now (not parked, not suspended). */
  running: number;
}

/** Options every job takes. */
export interface JobOptions {
  /** Cancels the job: it rejects with AbortedError and its workers are freed. */
  signal?: AbortSignal;
  /**
   * Called as the job progresses (at most every 50 ms, at once when `running` changes,
   * and once at the end with `done === total`). Exceptions it throws are ignored.
   */
  onProgress?: (progress: JobProgress) => void;
}

/** @internal A runner as the pool knows it; `node` follows its migrations. */
export interface RunnerInfo {
  readonly ref: Ref<Runner>;
  node: string;
}

/** @internal Counters a pool keeps over its jobs: the job-level part of {@link PoolStats}. */
export type JobCounters = Omit<PoolStats, 'threads' | 'nodes' | 'tasks' | 'jobs'>;

/** @internal What a job gets from its pool. */
export interface JobContext {
  readonly id: string;
  readonly runners: readonly RunnerInfo[];
  /** Node usage, at most a few milliseconds old. */
  load(): Promise<NodeStats[]>;
  /** Whether `node` has a CPU now (its capacity, as the pool last heard). */
  hasCpu(node: string): boolean;
  /** How long `node` has had no CPU, in milliseconds (0 while it has one). */
  outageMs(node: string): number;
  readonly counters: JobCounters;
}

/** @internal The work of a job. */
export interface JobSpec {
  readonly op: RangeOp;
  readonly fn: TaskSpec;
  readonly source: Source;
  readonly sink: Sink;
  /** The output is written in source order as the job goes (a queue or a vector). */
  readonly ordered: boolean;
  /** Reads the output queue, for rate matching (`after`: a `popped` count). */
  readonly rate?: ((after: number) => Promise<RateSample>) | undefined;
  /** Initial accumulator (reduce). */
  readonly init?: unknown;
}

/** Chunks a runner holds at once. */
const DEPTH = 2;
/** Target worker time of one chunk, in milliseconds. */
const TARGET_CHUNK_MS = 4;
const MAX_CHUNK_ITEMS = 65_536;
const MAX_CHUNK_BYTES = 1024 * 1024;
/** Elements pulled from a stream source at once. */
const PULL_MAX = 4_096;
const PROGRESS_MS = 50;
/**
 * How often rate matching reads the output queue. Measured in the adaptive example on the
 * 2-core VM, in two sets of 12 alternating runs: 4 ms against 5 made 23 and 28 shrinking
 * reactions of about 90 take 15 ms or less (against 25 and 16), 9 and 10 of 12 runs
 * at or under the 15 ms bar (against 5 and 8), with GPU idle time no higher. Earlier,
 * with an 8 ms window: reading every 2.5 ms made growing reactions sooner (pooled median
 * 7 ms, not 11), but the reads take CPU from the workers, and with a 6.5 ms window as well
 * it beat a 5 ms tick and an 8 ms window in one set of 8 alternating runs and lost in
 * another, with more GPU idle time in both. A read that can confirm a decision is not
 * left to the tick (see #confirmSoon).
 */
const RATE_TICK_MS = 4;
/**
 * The consumer's rate is measured over at least this window (from one burst end to a
 * later one). It is a little shorter than one step of the adaptive example's trainer
 * (6.75 ms): GPUs that take in step leave one gap per step, and a window that had to
 * span two of them (with 8 ms) doubled the time to see a drop in demand. Measured there
 * in 12 alternating runs each on the 2-core VM: 6 ms against 8 made 40 of 100 shrinking
 * reactions 15 ms or less (14 of 104), the run medians 13.6 against 17.2 (8 of 12 runs
 * at or under 15, against 4), with more flaps (a wrong shrink mid-period, then a grow
 * back: 24 against 16), each from a window of one gap of a held-up consumer read as a
 * low rate (a gap under STALL times the step is not taken for a stall). 6.5 ms fell in
 * between.
 */
const RATE_WINDOW_MS = 6;
/** Samples over which the least request delay gives the index's clock offset. */
const SKEW_SAMPLES = 64;
/** A silence this many times the consumer's longest gap between bursts: it stalled or slowed down (no rate yet). */
const SILENCE = 1.5;
/** A silence this many times its longest gap: it stopped or slowed down a lot, and the silence counts in its rate. */
const STOPPED = 3;
/** A gap in the measured window this many times the consumer's step is a stall: no rate is taken. */
const STALL = 2;
/** How far back the consumer's longest gap between bursts is looked for. */
const SILENCE_LOOKBACK_MS = 4 * RATE_WINDOW_MS;
/** A pop report followed by a pause this long ends a burst of the consumer's takes. */
const BURST_GAP_MS = 1;
/** How far back queue samples are kept. */
const RATE_HISTORY_MS = 2_000;
const LOAD_TICK_MS = 100;
/** A node without CPU for longer than this gets no new chunks until it has one again. */
const OUTAGE_MS = 20;
/** Chunks whose worker time per element is kept per active runner count (the median is used). */
const PER_ITEM_SAMPLES = 16;
/** Rate matching shrinks onto a measured runner count only if it delivers this much over the goal. */
const SHRINK_ROOM = 1.2;
/** Rate matching grows when the consumer's demand exceeds the active runners by this factor. */
const GROW_ABOVE = 1.1;
/**
 * No shrink on the consumer's demand this soon after a grow. Measured in the adaptive
 * example (GPU count changing every 200 ms) in two sets of 12 alternating runs: flaps (a
 * wrong shrink, then a grow back) 12 and 8 against 24 and 21 without it, shrinking
 * reactions no slower, runs at or under the 15 ms bar 8 and 7 of 12 against 8 and 4. A
 * consumer whose demand falls again within this time keeps its runners that much longer
 * (they wait on the full queue meanwhile). A starving consumer is not held back.
 */
const SHRINK_AFTER_GROW_MS = 100;
/** A starving consumer this soon after a shrink makes rate matching more cautious. */
const STARVE_AFTER_SHRINK_MS = 100;
/** Rate matching's margin over the demand; raised by such starving, it decays back with this time constant. */
const MARGIN = 1.15;
const MARGIN_DECAY_MS = 1_000;

const NO_ITEMS: readonly unknown[] = [];

const ACTIVE = 0;
const PARKED = 1;
const SUSPENDED = 2;

/** Part of a source a runner owns: next position, end, and the node holding the data (if known). */
interface Span {
  cursor: number;
  end: number;
  node: string | undefined;
}

interface Lane {
  readonly runner: RunnerInfo;
  state: number;
  inflight: number;
  /** Own ranges (ranged policy), worked front to back. */
  spans: Span[];
  /** Elements in its next chunk. */
  chunk: number;
  used: boolean;
}

interface Chunk {
  start: number;
  end: number;
  items: ArrayLike<unknown>;
}

/** @internal One running job. */
export class JobRun {
  readonly #ctx: JobContext;
  readonly #spec: JobSpec;
  readonly #options: JobOptions;
  readonly #lanes: Lane[];
  readonly #ranged: boolean;
  /** Front policy over a ranged source: the unassigned positions, in order, with where their data is. */
  #front: Span[] = [];
  /** Unfinished rests of chunks whose node lost its CPU, waiting for a runner with one. */
  readonly #homeless: Chunk[] = [];
  /** Stream buffer: elements pulled, not handed out; `#bufStart` is the position of `#buf[#bufHead]`. */
  #buf: unknown[] = [];
  #bufHead = 0;
  #bufStart = 0;
  #ended = false;
  #pulling = false;
  readonly #pullAbort = new AbortController();
  #total: number | undefined;
  #done = 0;
  #inflightItems = 0;
  #perItemMs = NaN;
  /**
   * Worker time per element by how many runners were active (contention slows each): the
   * last PER_ITEM_SAMPLES chunks' figures, whose median is taken. A busy moment on a shared
   * machine makes a few chunks much slower; an average kept them for long.
   */
  readonly #perItemBy = new Map<number, PerItem>();
  #maxItems = MAX_CHUNK_ITEMS;
  /** Capacity of the output queue, once known (0: unbounded or none). */
  #queueCapacity = 0;
  #settled = false;
  #started = false;
  #finishing = false;
  #pumpQueued = false;
  readonly #timers: NodeJS.Timeout[] = [];
  #lastProgress = 0;
  #lastRunning = -1;
  /** Queue samples: [time, length]. */
  readonly #samples: Array<[number, number]> = [];
  /** Pop reports of the queue's index, dated on this clock: [time, popped], oldest first. */
  readonly #pops: Array<[number, number]> = [];
  /** Until when (this clock) the pop log is complete: when the index last answered. */
  #popsUntil = 0;
  /** When (this clock) a consumer last waited for an item: a take found the queue empty, or a waiting one was served. */
  #waitedUntil = -Infinity;
  /** The index's `waitedAt` that `#waitedUntil` maps (its clock). */
  #waitedAt: number | null = null;
  /** The index's clock minus this one, plus a request's delay, over the last samples. */
  readonly #skew: number[] = [];
  /** Which clock the index answers with (its process's time origin). */
  #clock = NaN;
  #lastChange = 0;
  #lastShrink = -Infinity;
  #lastGrow = -Infinity;
  /** Safety factor on the runners the consumer's rate needs; grows after a shrink starved it. */
  #margin = MARGIN;
  #marginAt = 0;
  #rateBusy = false;
  /** A tick came while a read was out. */
  #rateMissed = false;
  /** A read sooner than the next tick, to confirm a tentative burst end (see #confirmSoon). */
  #confirmTimer: NodeJS.Timeout | null = null;
  #loadBusy = false;
  #onAbort: (() => void) | undefined;
  #resolve!: (v: unknown) => void;
  #reject!: (e: unknown) => void;
  /** Settles with the job's result. */
  readonly promise: Promise<unknown>;

  constructor(ctx: JobContext, spec: JobSpec, options: JobOptions) {
    this.#ctx = ctx;
    this.#spec = spec;
    this.#options = options;
    this.#ranged = spec.source.kind === 'ranged' && !spec.ordered;
    this.#lanes = ctx.runners.map((runner) => ({ runner, state: ACTIVE, inflight: 0, spans: [], chunk: 1, used: false }));
    this.#total = spec.source.kind === 'ranged' ? spec.source.length : undefined;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Starts the job; its outcome is {@link JobRun.promise}. */
  async start(): Promise<void> {
    const signal = this.#options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        await this.#fail(abortedError());
        return;
      }
      this.#onAbort = () => void this.#fail(abortedError());
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    try {
      await this.#park();
    } catch {
      // Without node usage every runner starts; stealing evens the load out.
    }
    if (this.#settled) return;
    this.#sizeChunks();
    const active = this.#lanes.filter((l) => l.state === ACTIVE);
    const source = this.#spec.source;
    if (this.#ranged) {
      partition(source as RangedSource, active);
      if (active.length > 1) this.#ctx.counters.splits += active.length - 1;
    } else if (source.kind === 'ranged') {
      this.#front = spansOf(source);
    }
    if (this.#lanes.some((l) => l.state === PARKED)) this.#every(LOAD_TICK_MS, () => void this.#loadTick());
    if (this.#spec.rate !== undefined) this.#every(RATE_TICK_MS, () => void this.#rateTick());
    this.#started = true;
    this.#progress(true);
    this.#pump();
  }

  // ---------------------------------------------------------------- handing out work

  /** A node's capacity changed: work may go to a runner that could not take it before. */
  capacityChanged(): void {
    this.#pump();
  }

  #pump(): void {
    // Not before start() has laid out the work (a capacity event may arrive while it parks).
    if (this.#settled || !this.#started) return;
    for (const lane of this.#lanes) {
      if (lane.state !== ACTIVE) continue;
      // Rests of yielded chunks go only where there is a CPU now; new chunks go to every
      // runner, since a node without CPU for a moment starts its queued ones the instant it
      // gets one back (and hands them back if the outage lasts).
      if (this.#ctx.hasCpu(lane.runner.node)) {
        for (let c = this.#homeless.shift(); c !== undefined; c = lane.inflight < DEPTH ? this.#homeless.shift() : undefined) this.#dispatch(lane, c);
      }
      // An outage that lasts: the node would only hand chunks back; feed it when it recovers.
      if (this.#ctx.outageMs(lane.runner.node) > OUTAGE_MS) continue;
      while (lane.inflight < DEPTH) {
        const chunk = this.#nextChunk(lane);
        if (chunk === null) break;
        this.#dispatch(lane, chunk);
      }
    }
    if (this.#spec.source.kind === 'stream' && !this.#ended && !this.#pulling && this.#buffered() < this.#pullTarget()) void this.#pull();
    this.#checkFinish();
  }

  #schedulePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #nextChunk(lane: Lane): Chunk | null {
    const source = this.#spec.source;
    if (this.#ranged) {
      let span = lane.spans[0];
      while (span !== undefined && span.cursor >= span.end) {
        lane.spans.shift();
        span = lane.spans[0];
      }
      if (span === undefined) {
        if (!this.#steal(lane, 'steals')) return null;
        span = lane.spans[0]!;
      }
      return this.#cut(lane, span, source as RangedSource);
    }
    if (this.#spec.ordered && this.#spec.sink.backlog + this.#inflightItems >= this.#window()) return null;
    if (source.kind === 'ranged') {
      const front = this.#front;
      while (front.length > 0 && front[0]!.cursor >= front[0]!.end) front.shift();
      const first = front[0];
      if (first === undefined) return null;
      // Data on this runner's node near the front, else the front itself. Staying within
      // half a window of the front bounds what waits for reordering, and the front chunk
      // is always allowed, so the output never waits for work nobody may take.
      const near = first.cursor + this.#window() / 2;
      let span = first;
      for (const sp of front) {
        if (sp.cursor >= near) break;
        if (sp.node === lane.runner.node && sp.cursor < sp.end) {
          span = sp;
          break;
        }
      }
      return this.#cut(lane, span, source);
    }
    const available = this.#buffered();
    if (available === 0) return null;
    // A part-filled chunk waits for more elements, unless the runner would sit idle.
    if (available < lane.chunk && !this.#ended && lane.inflight > 0) return null;
    const k = Math.min(lane.chunk, available);
    const items = this.#buf.slice(this.#bufHead, this.#bufHead + k);
    this.#bufHead += k;
    const start = this.#bufStart;
    this.#bufStart += k;
    if (this.#bufHead === this.#buf.length) {
      this.#buf = [];
      this.#bufHead = 0;
    } else if (this.#bufHead > PULL_MAX && this.#bufHead * 2 > this.#buf.length) {
      this.#buf = this.#buf.slice(this.#bufHead);
      this.#bufHead = 0;
    }
    return { start, end: start + k, items };
  }

  /**
   * Gives `lane` the upper half of the largest remaining range of another runner, or of
   * the largest one whose data is on `lane`'s node when that one is not much smaller
   * (at least a quarter of the largest); false when no range has two elements left.
   */
  #steal(lane: Lane, count: 'steals' | 'splits'): boolean {
    let best: { span: Span; owner: Lane; rem: number } | undefined;
    let local: { span: Span; owner: Lane; rem: number } | undefined;
    for (const l of this.#lanes) {
      if (l === lane) continue;
      // A runner whose node has had no CPU for a while gives up its ranges whole.
      const stalled = this.#ctx.outageMs(l.runner.node) > OUTAGE_MS;
      for (const span of l.spans) {
        const rem = span.end - span.cursor;
        if (rem < (stalled ? 1 : 2)) continue;
        if (best === undefined || rem > best.rem) best = { span, owner: l, rem };
        if (span.node === lane.runner.node && (local === undefined || rem > local.rem)) local = { span, owner: l, rem };
      }
    }
    const pick = local !== undefined && best !== undefined && local.rem * 4 >= best.rem ? local : best;
    if (pick === undefined) return false;
    const { span, owner, rem } = pick;
    const mid = this.#ctx.outageMs(owner.runner.node) > OUTAGE_MS ? span.cursor : span.cursor + Math.ceil(rem / 2);
    lane.spans.push({ cursor: mid, end: span.end, node: span.node });
    span.end = mid;
    lane.chunk = Math.max(lane.chunk, Math.min(owner.chunk, Math.ceil(rem / 2)));
    this.#ctx.counters[count]++;
    return true;
  }

  /**
   * Cuts `lane`'s next chunk from the front of `span`, counting whether it runs next to its
   * data. Its elements travel with it, unless the runner reads them itself (no `slice`).
   */
  #cut(lane: Lane, span: Span, source: RangedSource): Chunk {
    const start = span.cursor;
    const end = Math.min(span.end, start + lane.chunk);
    span.cursor = end;
    if (span.node !== undefined) this.#ctx.counters[span.node === lane.runner.node ? 'localChunks' : 'remoteChunks']++;
    return { start, end, items: source.slice !== undefined ? source.slice(start, end) : NO_ITEMS };
  }

  #dispatch(lane: Lane, chunk: Chunk): void {
    const { op, fn, init } = this.#spec;
    const n = chunk.end - chunk.start;
    lane.inflight++;
    lane.used = true;
    this.#inflightItems += n;
    const req: ExecRequest = { job: this.#ctx.id, op, fn, start: chunk.start, items: chunk.items };
    const read = this.#spec.source.kind === 'ranged' ? this.#spec.source.read : undefined;
    if (read !== undefined) {
      req.read = read;
      req.end = chunk.end;
    }
    if (op === 'reduce') req.init = init;
    lane.runner.ref.call('exec', req).then(
      (out) => this.#complete(lane, chunk, out),
      (e: unknown) => void this.#fail(e),
    );
  }

  #complete(lane: Lane, chunk: Chunk, out: RangeOutput): void {
    const { start, end } = chunk;
    lane.inflight--;
    this.#inflightItems -= end - start;
    if (this.#settled || out.cancelled === true) return;
    if (out.yielded === true && out.error === undefined) {
      this.#yielded(lane, chunk, out);
      return;
    }
    if (out.error !== undefined) {
      const cause = fromWireError(out.error.error, { node: lane.runner.node });
      const index = out.error.index;
      void this.#fail(new TaskError(`task failed at element ${index} of the source: ${cause.name}: ${cause.message}`, { cause, data: { index, node: lane.runner.node } }));
      return;
    }
    if (out.n > 0) {
      const per = out.ms / out.n;
      this.#perItemMs = Number.isNaN(this.#perItemMs) ? per : this.#perItemMs * 0.7 + per * 0.3;
      // By how many ran beside it, when that did not change while it ran.
      const now = performance.now();
      if (now - out.ms > this.#lastChange) {
        const active = this.#running();
        let seen = this.#perItemBy.get(active);
        if (seen === undefined) this.#perItemBy.set(active, (seen = { figures: [], median: NaN, at: now }));
        seen.figures.push(per);
        if (seen.figures.length > PER_ITEM_SAMPLES) seen.figures.shift();
        seen.median = NaN; // taken again when next read
        seen.at = now;
      }
    }
    lane.chunk = Math.max(1, Math.min(lane.chunk * 4, this.#targetItems()));
    try {
      this.#spec.sink.put(start, end, out);
    } catch (e) {
      void this.#fail(e);
      return;
    }
    this.#done += end - start;
    this.#progress(false);
    this.#pump();
  }

  /**
   * The runner's node lost its CPU while holding this chunk: keep what it finished and hand
   * the rest, at once, to a runner whose node has a CPU (the work follows the free CPU).
   * When no node has one, the rest waits for the next capacity change.
   */
  #yielded(lane: Lane, chunk: Chunk, out: RangeOutput): void {
    const n = out.n;
    if (n > 0) {
      try {
        this.#spec.sink.put(chunk.start, chunk.start + n, out);
      } catch (e) {
        void this.#fail(e);
        return;
      }
      this.#done += n;
      this.#progress(false);
    }
    this.#ctx.counters.yields++;
    const rest: Chunk = { start: chunk.start + n, end: chunk.end, items: chunk.items.length === 0 ? NO_ITEMS : Array.prototype.slice.call(chunk.items, n) };
    let to: Lane | undefined;
    for (const l of this.#lanes) {
      if (l.state !== ACTIVE || !this.#ctx.hasCpu(l.runner.node)) continue;
      if (to === undefined || l.inflight < to.inflight) to = l;
    }
    // No runner has a CPU now: the rest waits for the next capacity change.
    if (to === undefined) this.#homeless.push(rest);
    else this.#dispatch(to, rest);
    this.#pump();
  }

  #targetItems(): number {
    const per = this.#perItemMs;
    const want = Number.isNaN(per) || per <= 0 ? this.#maxItems : Math.round(TARGET_CHUNK_MS / per);
    return Math.max(1, Math.min(this.#maxItems, want));
  }

  /** Caps chunk sizes by bytes (sampled), and by a quarter of an output queue's capacity. */
  #sizeChunks(): void {
    const source = this.#spec.source;
    if (source.kind === 'ranged' && source.length > 0) {
      let per = source.bytesPerItem ?? 8;
      if (source.slice !== undefined) {
        const sample = source.slice(0, Math.min(source.length, 16));
        let bytes = 0;
        for (let i = 0; i < sample.length; i++) bytes += approxBytes(sample[i]);
        per = Math.max(1, bytes / sample.length);
      }
      this.#maxItems = Math.max(1, Math.min(MAX_CHUNK_ITEMS, Math.floor(MAX_CHUNK_BYTES / per)));
    }
    this.#capacity().then((c) => {
      if (c > 0) this.#maxItems = Math.max(1, Math.min(this.#maxItems, Math.floor(c / 4)));
    }, () => undefined);
  }

  async #capacity(): Promise<number> {
    const rate = this.#spec.rate;
    if (rate === undefined) return 0;
    this.#queueCapacity = (await rate(Infinity)).capacity;
    return this.#queueCapacity;
  }

  /** Positions finished or running but not yet in the output queue, at most. */
  #window(): number {
    const c = this.#queueCapacity;
    return c > 0 ? Math.max(c, DEPTH * this.#lanes.length) : 4 * MAX_CHUNK_ITEMS;
  }

  // ---------------------------------------------------------------- stream sources

  #buffered(): number {
    return this.#buf.length - this.#bufHead;
  }

  #pullTarget(): number {
    let want = 0;
    for (const l of this.#lanes) if (l.state === ACTIVE) want += l.chunk * DEPTH;
    return Math.max(64, Math.min(4 * MAX_CHUNK_ITEMS, want));
  }

  async #pull(): Promise<void> {
    const source = this.#spec.source;
    if (source.kind !== 'stream') return;
    this.#pulling = true;
    try {
      while (!this.#ended && !this.#settled && this.#buffered() < this.#pullTarget()) {
        const xs = await source.next(Math.min(PULL_MAX, this.#pullTarget() - this.#buffered()), this.#pullAbort.signal);
        if (this.#settled) return;
        if (xs === null) {
          this.#ended = true;
          this.#total = this.#bufStart + this.#buffered();
        } else {
          for (const x of xs) this.#buf.push(x);
        }
        this.#pump();
      }
    } catch (e) {
      if (!this.#settled) void this.#fail(e);
    } finally {
      this.#pulling = false;
    }
    this.#schedulePump();
  }

  // ---------------------------------------------------------------- finishing

  #checkFinish(): void {
    if (this.#settled || this.#finishing || this.#homeless.length > 0) return;
    for (const l of this.#lanes) if (l.inflight > 0) return;
    const source = this.#spec.source;
    if (this.#ranged) {
      for (const l of this.#lanes) for (const span of l.spans) if (span.cursor < span.end) return;
    } else if (source.kind === 'ranged') {
      for (const sp of this.#front) if (sp.cursor < sp.end) return;
    } else if (!this.#ended || this.#buffered() > 0) {
      return;
    }
    this.#finishing = true;
    void this.#finish();
  }

  async #finish(): Promise<void> {
    let result: unknown;
    try {
      result = await this.#spec.sink.finish(this.#total ?? this.#done);
    } catch (e) {
      this.#finishing = false;
      await this.#fail(e);
      return;
    }
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    this.#progress(true);
    for (const l of this.#lanes) if (l.used) l.runner.ref.call('finish', this.#ctx.id).catch(() => undefined);
    this.#resolve(result);
  }

  async #fail(e: unknown): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    this.#pullAbort.abort();
    if (this.#spec.source.kind === 'stream') this.#spec.source.stop();
    await Promise.allSettled(this.#lanes.filter((l) => l.used).map((l) => l.runner.ref.call('cancel', this.#ctx.id)));
    await this.#spec.sink.abandon().catch(() => undefined);
    this.#reject(e);
  }

  #cleanup(): void {
    for (const t of this.#timers) clearInterval(t);
    if (this.#confirmTimer !== null) clearTimeout(this.#confirmTimer);
    if (this.#onAbort !== undefined) this.#options.signal?.removeEventListener('abort', this.#onAbort);
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  // ---------------------------------------------------------------- progress

  #running(): number {
    let n = 0;
    for (const l of this.#lanes) if (l.state === ACTIVE) n++;
    return n;
  }

  #progress(force: boolean): void {
    const cb = this.#options.onProgress;
    if (cb === undefined) return;
    const running = this.#settled ? 0 : this.#running();
    const now = performance.now();
    if (!force && running === this.#lastRunning && now - this.#lastProgress < PROGRESS_MS) return;
    this.#lastProgress = now;
    this.#lastRunning = running;
    try {
      cb({ done: this.#done, total: this.#total, running });
    } catch {
      // A progress callback must not break the job.
    }
  }

  /** Output progress (a chunk reached the queue): room in the window may let work out. */
  onOutput(): void {
    this.#schedulePump();
  }

  /** Fails the job from outside (its output broke). */
  abort(e: unknown): void {
    void this.#fail(e);
  }

  // ---------------------------------------------------------------- splitting onto free CPU

  /** Free CPUs per node for this job: CPUs not busy with other work, less our active lanes. */
  async #freeCpus(): Promise<Map<string, number>> {
    const stats = await this.#ctx.load();
    const ours = new Map<string, number>();
    const active = new Map<string, number>();
    for (const l of this.#lanes) {
      ours.set(l.runner.node, (ours.get(l.runner.node) ?? 0) + l.inflight);
      if (l.state === ACTIVE) active.set(l.runner.node, (active.get(l.runner.node) ?? 0) + 1);
    }
    const free = new Map<string, number>();
    for (const n of stats) {
      if (n.lost) continue;
      const others = Math.max(0, n.cpusBusy + n.tasksQueued - (ours.get(n.id) ?? 0));
      // A node with no CPU at this instant (another tenant's) is not parked: its runner's
      // work yields to nodes with CPU while it lasts, and resumes there when it ends.
      const cpus = n.cpus === 0 ? 1 : n.cpus;
      free.set(n.id, Math.max(0, cpus - others - (active.get(n.id) ?? 0)));
    }
    return free;
  }

  /** At the start: park runners beyond the free CPUs of their node (all start if none is free). */
  async #park(): Promise<void> {
    if (this.#lanes.length <= 1) return;
    for (const l of this.#lanes) l.state = PARKED;
    let free: Map<string, number>;
    try {
      free = await this.#freeCpus();
    } finally {
      for (const l of this.#lanes) l.state = ACTIVE;
    }
    let anyActive = false;
    for (const l of this.#lanes) {
      const f = free.get(l.runner.node) ?? 0;
      if (f > 0) {
        free.set(l.runner.node, f - 1);
        anyActive = true;
      } else {
        l.state = PARKED;
      }
    }
    if (!anyActive) for (const l of this.#lanes) l.state = ACTIVE;
  }

  /** Parked runners whose node has a free CPU now join, each splitting the largest range. */
  async #loadTick(): Promise<void> {
    if (this.#loadBusy || this.#settled) return;
    this.#loadBusy = true;
    try {
      const free = await this.#freeCpus();
      if (this.#settled) return;
      let joined = false;
      for (const l of this.#lanes) {
        if (l.state !== PARKED) continue;
        const f = free.get(l.runner.node) ?? 0;
        if (f <= 0) continue;
        free.set(l.runner.node, f - 1);
        l.state = ACTIVE;
        joined = true;
        // Front policy: the new runner simply takes chunks from the front from now on.
        if (!this.#ranged) this.#ctx.counters.splits++;
        else this.#steal(l, 'splits');
      }
      if (joined) {
        this.#progress(true);
        this.#pump();
      }
    } catch {
      // Usage unavailable for a moment: look again at the next tick.
    } finally {
      this.#loadBusy = false;
    }
  }

  // ---------------------------------------------------------------- rate matching

  async #rateTick(): Promise<void> {
    const read = this.#spec.rate;
    if (read === undefined || this.#settled) return;
    if (this.#rateBusy) {
      // A read is out (its answer can take milliseconds on a busy machine): look again as
      // soon as it is in, not a whole tick later, so that a change is seen without delay.
      this.#rateMissed = true;
      return;
    }
    this.#rateBusy = true;
    this.#rateMissed = false;
    try {
      const asked = performance.now();
      const last = this.#pops[this.#pops.length - 1];
      const s = await read(last === undefined ? -Infinity : last[1]);
      if (this.#settled) return;
      const now = performance.now();
      const samples = this.#samples;
      samples.push([now, s.length]);
      while (samples.length > 2 && now - samples[1]![0] >= RATE_HISTORY_MS) samples.shift();
      this.#notePops(asked, s);
      const active = this.#running();
      // Not within a window of the last change: its effect is not measurable yet.
      if (now - samples[0]![0] < RATE_WINDOW_MS * 0.75 || now - this.#lastChange < RATE_WINDOW_MS) return;
      let want: number;
      this.#margin = MARGIN + (this.#margin - MARGIN) * Math.exp(-(now - this.#marginAt) / MARGIN_DECAY_MS);
      this.#marginAt = now;
      if (this.#starvedSince(now - RATE_WINDOW_MS)) {
        // The consumer found the queue empty: its pops measure our production, not its demand.
        if (!this.#hasWork()) return;
        want = active + 1;
        // A shrink that starved the consumer soon after: be more cautious from now on.
        if (active < this.#lanes.length && now - this.#lastShrink < STARVE_AFTER_SHRINK_MS) this.#margin = Math.min(2, this.#margin * 1.25);
      } else {
        if (Number.isNaN(this.#perItemMs)) return;
        const rate = this.#demand(false); // elements per ms
        want = rate === undefined ? active : this.#wantFor(rate, active, now, s.length);
        if (want === active) {
          // The newest report may end a burst whose gap is not seen yet (only then can a
          // tentative reading differ): if that burst would make a window that changes the
          // decision, read again as soon as the gap can be seen instead of a tick later.
          const newest = this.#pops[this.#pops.length - 1];
          if (newest !== undefined && this.#popsUntil - newest[0] < BURST_GAP_MS) {
            const early = this.#demand(true);
            if (early !== undefined && this.#wantFor(early, active, now, s.length) !== active) this.#confirmSoon(newest[0] + BURST_GAP_MS - now);
          }
          return;
        }
      }
      const target = Math.max(1, want);
      if (this.#setActive(target)) {
        this.#lastChange = now;
        if (target < active) this.#lastShrink = now;
        else this.#lastGrow = now;
      }
    } catch {
      // The queue is unreachable for a moment: keep the current rate.
    } finally {
      this.#rateBusy = false;
      if (this.#rateMissed) setImmediate(() => void this.#rateTick());
    }
  }

  /**
   * The runners `rate` (the consumer's demand, elements per ms) calls for, given `active`
   * now. The consumer never waited, so its pops are its demand. Shrink to the fewest
   * runners that make it (with the margin); grow when it is clearly (a tenth) above what
   * the active ones make. Waiting for the queue to drain instead would take as long as a
   * full queue lasts. The dead band keeps noise from flapping it.
   */
  #wantFor(rate: number, active: number, now: number, length: number): number {
    const goal = rate * this.#margin;
    let fewest = this.#lanes.length;
    for (let n = 1; n < this.#lanes.length; n++) {
      // Onto a count already measured, a shrink needs room to spare (noise in the demand
      // must not flap it); onto one not measured yet it is a probe, undone at once if the
      // consumer then starves.
      if (this.#delivers(n) >= goal * (this.#perItemBy.has(n) ? SHRINK_ROOM : 1)) {
        fewest = n;
        break;
      }
    }
    // Not while the queue shrinks: production then falls short of consumption, whatever a
    // window of pops says. Such a window was a consumer held up for a moment (its
    // process not run), and the wrong shrink it caused was undone only by a starvation,
    // whose regrowth then held back the next real shrink by the cooldown. In the adaptive
    // example, 14 alternated pairs: runs at or under 15 ms 14 of 14 against 10 of 14,
    // periods left without the proclets they need 6 against 15.
    if (fewest < active) return now - this.#lastGrow < SHRINK_AFTER_GROW_MS || this.#draining(now, length) ? active : fewest;
    if (goal > this.#delivers(active) * GROW_ABOVE && this.#draining(now, length)) return Math.max(active + 1, fewest);
    return active;
  }

  /**
   * Reads the queue again in `delayMs` (once the newest pop report's gap can be seen),
   * rather than at the next tick: a tentative burst end would change the decision.
   */
  #confirmSoon(delayMs: number): void {
    if (this.#confirmTimer !== null || delayMs >= RATE_TICK_MS) return; // the tick comes first
    this.#confirmTimer = setTimeout(() => {
      this.#confirmTimer = null;
      void this.#rateTick();
    }, Math.max(0, delayMs));
    this.#confirmTimer.unref();
  }

  /**
   * The consumer's demand (elements per ms), or undefined when it cannot be told. It is
   * measured on the pop reports of the queue's index, dated there: a consumer takes items
   * in bursts (a batch per GPU step, often every GPU at once), and a rate between the
   * times samples arrived is off by up to a tick per burst. A rate is taken from the end
   * of one burst to the end of a later one (a report followed by a gap of BURST_GAP_MS):
   * whole bursts over whole gaps, at least RATE_WINDOW_MS long. A consumer that never
   * pauses that long has no bursts; then any two reports do. If it has since been silent
   * for longer than SILENCE times its longest recent gap (and RATE_WINDOW_MS), it stalled
   * or slowed down: no rate is taken until the silence passes STOPPED times that gap (and
   * twice RATE_WINDOW_MS), and then the silence counts. A window with a gap of STALL times
   * that gap in it gives no rate either. Only valid while no take found the queue empty
   * (the consumer never waited), so its pops are what it asked for. `tentative`: as if the
   * newest report were known to end a burst (what a read BURST_GAP_MS later may confirm).
   */
  #demand(tentative: boolean): number | undefined {
    const pops = this.#pops;
    const until = this.#popsUntil;
    // Report i ends a burst when the next one (or the last answer) is BURST_GAP_MS later.
    const next = (i: number): number => (i + 1 < pops.length ? pops[i + 1]![0] : tentative ? Infinity : until);
    const ends = (i: number): boolean => next(i) - pops[i]![0] >= BURST_GAP_MS;
    // The newest burst end, if one is recent (a steady consumer has none: do not scan it all).
    let k = pops.length - 1;
    while (k >= 0 && !ends(k) && until - pops[k]![0] < 2 * RATE_WINDOW_MS) k--;
    const bursts = k >= 0 && ends(k) && until - pops[k]![0] < 2 * RATE_WINDOW_MS;
    if (!bursts) k = pops.length - 1;
    if (k < 1) return undefined;
    const [tk, ck] = pops[k]!;
    const burstEnds = bursts ? ends : null;
    let j = k - 1;
    for (; j >= 0; j--) {
      if (bursts && !ends(j)) continue;
      if (tk - pops[j]![0] >= RATE_WINDOW_MS) break;
    }
    if (j < 0) return undefined;
    const [tj, cj] = pops[j]!;
    // The consumer's step, as the longest gap it left before: a gap in the window or a
    // silence since well past it is a stall (its process held up, a pause) or a slowdown.
    const step = this.#longestGap(j, burstEnds);
    const silence = until - tk;
    if (silence > Math.max(RATE_WINDOW_MS, SILENCE * step)) {
      // Silent, yet not waiting for items since: it stopped or slowed down a lot, whether
      // or not it had to wait before. A shorter silence may be a stall: wait and see.
      if (silence < Math.max(2 * RATE_WINDOW_MS, STOPPED * step)) return undefined;
      return this.#starvedSince(tk) ? undefined : (ck - cj) / (until - tj);
    }
    // A window with a stall in it says little of the rate the consumer keeps.
    if (step > 0 && this.#longestGap(k, burstEnds, tj) > STALL * step) return undefined;
    return this.#starvedSince(tj) ? undefined : (ck - cj) / (tk - tj);
  }

  /**
   * The longest gap between burst ends (`ends`; null: between reports) from report `k`
   * back to `from` (by default SILENCE_LOOKBACK_MS before it). A consumer's step shows as
   * such a gap, and GPUs that fall into groups make short and long ones within a step.
   */
  #longestGap(k: number, ends: ((i: number) => boolean) | null, from = this.#pops[k]![0] - SILENCE_LOOKBACK_MS): number {
    const pops = this.#pops;
    let longest = 0;
    let after = pops[k]![0];
    // (A consumer with no burst ends back there stops the scan at twice the distance.)
    for (let i = k - 1; i >= 0 && after > from && pops[i]![0] > from - SILENCE_LOOKBACK_MS; i--) {
      if (ends !== null && !ends(i)) continue;
      longest = Math.max(longest, after - pops[i]![0]);
      after = pops[i]![0];
    }
    return longest;
  }

  /**
   * Adds the index's pop reports to the pop log, on this clock. The index answered after
   * `asked`, so (its clock at the answer) minus `asked` is the clocks' offset plus the
   * request's delay; the least of these over the last samples is the offset, give or take
   * the fastest delay. (The time a reply arrives is no use: it can sit unread for
   * milliseconds on a busy client.) A migrated index brings another clock: start over.
   */
  #notePops(asked: number, s: RateSample): void {
    const skew = this.#skew;
    if (s.clock !== this.#clock) {
      this.#clock = s.clock;
      skew.length = 0;
    }
    skew.push(s.at - asked);
    if (skew.length > SKEW_SAMPLES) skew.shift();
    const offset = Math.min(...skew);
    const pops = this.#pops;
    const reports = s.pops;
    for (let i = 0; i + 1 < reports.length; i += 2) {
      const last = pops[pops.length - 1];
      const popped = reports[i + 1]!;
      if (last !== undefined && popped <= last[1]) continue;
      const at = reports[i]! - offset;
      pops.push([last === undefined ? at : Math.max(at, last[0]), popped]);
    }
    this.#popsUntil = Math.max(this.#popsUntil, s.at - offset);
    // Mapped once, with the offset its pop report was mapped with (the same answer brings both).
    const waitedAt = typeof s.waitedAt === 'number' ? s.waitedAt : null;
    if (waitedAt !== this.#waitedAt) {
      this.#waitedAt = waitedAt;
      this.#waitedUntil = waitedAt === null ? -Infinity : waitedAt - offset;
    }
    let drop = 0;
    while (drop < pops.length - 2 && asked - pops[drop + 1]![0] >= RATE_HISTORY_MS) drop++;
    if (drop > 0) pops.splice(0, drop);
  }

  /** True when the queue is shorter than a window ago: the active runners make too little. */
  #draining(now: number, length: number): boolean {
    const i = this.#sampleAt(now - RATE_WINDOW_MS);
    return i >= 0 && length < this.#samples[i]![1];
  }

  /** The newest queue sample taken at or before `t`, or -1 when there is none. */
  #sampleAt(t: number): number {
    const samples = this.#samples;
    let i = samples.length - 1;
    while (i >= 0 && samples[i]![0] > t) i--;
    return i;
  }

  /**
   * What `n` active runners deliver together (elements per ms): `n` over the worker time
   * per element seen with `n` active (on a busy machine each of two runners is slower than
   * one alone), or with the nearest count seen. An estimate for a count not seen yet is a
   * probe: a shrink that then starves the consumer is undone at once, and makes the
   * margin grow.
   */
  #delivers(n: number): number {
    const own = this.#perItemBy.get(n);
    const seen = own ?? nearest(this.#perItemBy, n);
    let per = seen === undefined ? this.#perItemMs : perItemOf(seen);
    // Runners share the machines, so one is not slower per element with fewer beside it:
    // figures taken since with more runners active bound this count's. Without this, a
    // count measured in a slow moment kept that figure until it ran again, which it then
    // never did, as a shrink onto it looked short of the demand. In the adaptive example,
    // 20 alternated pairs: runs at or under 15 ms 18 of 20 against 15 or 16, the median
    // run 10.4 ms against 12.6, changes left without a reaction 10 against 12. (With
    // runners on nodes of different speeds the one left may be the slower: a shrink that
    // then starves the consumer is undone at once and raises the margin, as a probe is.)
    const at = own?.at ?? -Infinity;
    for (const [k, other] of this.#perItemBy) if (k > n && other.at > at) per = Math.min(per, perItemOf(other));
    return n / per;
  }

  /**
   * Whether a consumer waited for an item after `t`: a take found the queue empty (it
   * waited, or came back empty), or a waiting take was served. The index dates both on the
   * clock of the pop reports, so a window of pops can start right after the last wait: a
   * pop that served a waiting take came when we delivered, not when it was asked for.
   */
  #starvedSince(t: number): boolean {
    return this.#waitedUntil > t;
  }

  #hasWork(): boolean {
    const source = this.#spec.source;
    return source.kind === 'ranged' ? this.#front.some((sp) => sp.cursor < sp.end) : !this.#ended || this.#buffered() > 0;
  }

  /** Activates or suspends runners until `want` are active; true when any changed. */
  #setActive(want: number): boolean {
    let active = this.#running();
    const from = active;
    if (want < active) {
      for (let i = this.#lanes.length - 1; i >= 0 && active > want; i--) {
        const l = this.#lanes[i]!;
        if (l.state !== ACTIVE) continue;
        l.state = SUSPENDED;
        active--;
        this.#ctx.counters.suspensions++;
      }
    } else if (want > active) {
      for (const l of this.#lanes) {
        if (active >= want) break;
        if (l.state !== SUSPENDED) continue;
        l.state = ACTIVE;
        active++;
        this.#ctx.counters.resumptions++;
      }
    }
    if (active === from) return false;
    this.#progress(true);
    this.#pump();
    return true;
  }
}

/**
 * Worker time per element with one count of runners active: the last PER_ITEM_SAMPLES
 * chunks' figures, their median once taken (NaN until read after a new figure; rate
 * matching reads it every tick, chunks add figures more often), and when the last came.
 */
interface PerItem {
  readonly figures: number[];
  median: number;
  at: number;
}

/** The median of a count's figures, taken once per new figure. */
function perItemOf(p: PerItem): number {
  if (Number.isNaN(p.median)) p.median = median(p.figures);
  return p.median;
}

/** The value for key `n`, else for the nearest key (the smaller on a tie), else undefined. */
function nearest<T>(m: ReadonlyMap<number, T>, n: number): T | undefined {
  let best: number | undefined;
  for (const k of m.keys()) if (best === undefined || Math.abs(k - n) < Math.abs(best - n) || (Math.abs(k - n) === Math.abs(best - n) && k < best)) best = k;
  return best === undefined ? undefined : m.get(best);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function abortedError(): AbortedError {
  return new AbortedError('the job was aborted by its signal; its workers were told to stop');
}

/**
 * Hands the positions of a ranged source to the active runners: the data each node holds
 * (when the source says where) goes to the runners on that node, split evenly among them;
 * the rest is split evenly among all runners. Stealing evens out what this leaves uneven.
 */
function partition(source: RangedSource, lanes: Lane[]): void {
  const byNode = groupBy(lanes, (l) => l.runner.node);
  const spans = spansOf(source);
  const isLocal = (sp: Span): boolean => sp.node !== undefined && byNode.has(sp.node);
  for (const [node, mine] of groupBy(spans.filter(isLocal), (sp) => sp.node!)) deal(mine, byNode.get(node)!);
  deal(spans.filter((sp) => !isLocal(sp)), lanes);
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const group = out.get(k);
    if (group === undefined) out.set(k, [x]);
    else group.push(x);
  }
  return out;
}

/**
 * The positions of a ranged source as spans in order, each with the node holding it when
 * known. Every position of [0, length) is in exactly one span: parts of the placement
 * that overlap are cut, and gaps in it become spans of unknown place.
 */
function spansOf(source: RangedSource): Span[] {
  const n = source.length;
  const placed = [...(source.placement ?? [])].sort((a, b) => a.lo - b.lo);
  const spans: Span[] = [];
  let at = 0;
  for (const p of placed) {
    const lo = Math.min(n, Math.max(at, p.lo));
    const hi = Math.min(n, p.hi);
    if (lo > at) {
      spans.push({ cursor: at, end: lo, node: undefined });
      at = lo;
    }
    if (hi > at) {
      spans.push({ cursor: at, end: hi, node: p.node });
      at = hi;
    }
  }
  if (at < n) spans.push({ cursor: at, end: n, node: undefined });
  return spans;
}

/** Cuts `spans` (in order) into `lanes.length` runs of equal element count, one per lane. */
function deal(spans: Span[], lanes: Lane[]): void {
  const total = spans.reduce((a, s) => a + (s.end - s.cursor), 0);
  if (total === 0 || lanes.length === 0) return;
  let k = 0;
  let given = 0;
  for (const s of spans) {
    let at = s.cursor;
    while (at < s.end) {
      const quota = Math.floor(((k + 1) * total) / lanes.length) - given;
      const take = Math.min(s.end - at, Math.max(0, quota));
      if (take > 0) {
        lanes[k]!.spans.push({ cursor: at, end: at + take, node: s.node });
        at += take;
        given += take;
      }
      if (given >= Math.floor(((k + 1) * total) / lanes.length) && k < lanes.length - 1) k++;
      else if (take === 0) break;
    }
  }
}
