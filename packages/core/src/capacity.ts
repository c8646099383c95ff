/**
 * A node's CPU capacity, shared by its main thread and its worker threads, with the
 * changes scheduled ahead (`setCapacity(..., { at })`) in it too.
 *
 * Why: a scheduled change used to reach the workers when the main thread's timer fired.
 * Timers count whole milliseconds and wait for a busy event loop, so they fire 0.5-1.5 ms
 * late (more under load): a node kept its worker busy that long after its CPU was taken,
 * and a node given its CPU back started that long after. With a tenant that takes a core
 * for 10 ms at a time (the filler experiment) that is a tenth of every phase. Here each
 * worker reads the capacity in effect *now*, on its own clock: one whose CPU is taken
 * stops between two elements at the scheduled instant, and one that the main thread gave
 * work shortly before a scheduled return (see `WorkerPool`) waits for that instant in
 * `Atomics.wait`, which wakes on time, and starts then.
 *
 * Layout of the shared buffer: `Float64 at[SCHEDULE_MAX]` (wall-clock ms, ascending),
 * then `Int32 [capacity, seq, count, cpus[SCHEDULE_MAX]]`. `capacity` is the value the
 * main thread applied last; entry `i` sets it to `cpus[i]` from `at[i]` on. The main
 * thread is the only writer: `seq` is odd while it writes (readers retry, a seqlock), and
 * is notified after every write so that a waiting worker looks again. The main thread
 * removes an entry when its timer applies it. More than SCHEDULE_MAX pending changes: the
 * later ones are only applied by the timer, as before.
 *
 * @internal
 */

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the processes of a machine. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Runs `fn` once `wallClockMs()` has reached `at`, never before: timers count whole
 * milliseconds and may fire up to one early, so an early one waits out the rest. An
 * unreferenced timer does not keep the process alive.
 */
export function atWallClock(at: number, fn: () => void, options: { unref?: boolean } = {}): { cancel(): void } {
  let t: NodeJS.Timeout;
  const arm = (): void => {
    t = setTimeout(() => {
      if (wallClockMs() < at) arm();
      else fn();
    }, Math.max(0, at - wallClockMs()));
    if (options.unref === true) t.unref();
  };
  arm();
  return { cancel: () => clearTimeout(t) };
}

/** Scheduled changes the workers see at most. */
const SCHEDULE_MAX = 8;
const CAPACITY = 0;
const SEQ = 1;
const COUNT = 2;
const CPUS = 3;
const AT_BYTES = SCHEDULE_MAX * 8;
const BYTES = AT_BYTES + (CPUS + SCHEDULE_MAX) * 4;

/** @internal See the module comment. */
export class SharedCapacity {
  readonly buffer: SharedArrayBuffer;
  readonly #at: Float64Array;
  readonly #ctl: Int32Array;

  /** A new block holding `size` (main thread), or a view of an existing one (worker). */
  constructor(init: number | SharedArrayBuffer) {
    this.buffer = typeof init === 'number' ? new SharedArrayBuffer(BYTES) : init;
    this.#at = new Float64Array(this.buffer, 0, SCHEDULE_MAX);
    this.#ctl = new Int32Array(this.buffer, AT_BYTES, CPUS + SCHEDULE_MAX);
    if (typeof init === 'number') Atomics.store(this.#ctl, CAPACITY, init);
  }

  // ------------------------------------------------------------ main thread (the writer)

  /** The capacity is `size` from now on (a change applied now, or a scheduled one whose time came: `at`). */
  apply(size: number, at = -Infinity): void {
    this.#write(() => {
      Atomics.store(this.#ctl, CAPACITY, size);
      // Entries up to `at` are applied now: drop them.
      const n = Atomics.load(this.#ctl, COUNT);
      const k = this.#firstAfter(at, n);
      for (let i = 0; i + k < n; i++) {
        this.#at[i] = this.#at[i + k]!;
        Atomics.store(this.#ctl, CPUS + i, Atomics.load(this.#ctl, CPUS + i + k));
      }
      Atomics.store(this.#ctl, COUNT, n - k);
    });
  }

  /** The capacity will be `size` from wall-clock `at`; false when the schedule is full. */
  schedule(at: number, size: number): boolean {
    const n = Atomics.load(this.#ctl, COUNT);
    if (n >= SCHEDULE_MAX) return false;
    this.#write(() => {
      // After every entry at or before `at`: of two changes at one instant the later wins.
      let i = n;
      while (i > 0 && this.#at[i - 1]! > at) {
        this.#at[i] = this.#at[i - 1]!;
        Atomics.store(this.#ctl, CPUS + i, Atomics.load(this.#ctl, CPUS + i - 1));
        i--;
      }
      this.#at[i] = at;
      Atomics.store(this.#ctl, CPUS + i, size);
      Atomics.store(this.#ctl, COUNT, n + 1);
    });
    return true;
  }

  #write(fn: () => void): void {
    Atomics.add(this.#ctl, SEQ, 1);
    try {
      fn();
    } finally {
      Atomics.add(this.#ctl, SEQ, 1);
      Atomics.notify(this.#ctl, SEQ);
    }
  }

  // ------------------------------------------------------------ any thread

  /**
   * The capacity in effect `aheadMs` from now (by default now). With nothing scheduled it
   * is one load, no clock read: workers ask between every two elements of a range task.
   */
  at(aheadMs = 0): number {
    const ctl = this.#ctl;
    if (Atomics.load(ctl, COUNT) === 0) return Atomics.load(ctl, CAPACITY);
    const t = wallClockMs() + aheadMs;
    for (;;) {
      const s = Atomics.load(ctl, SEQ);
      if ((s & 1) !== 0) continue;
      const cap = this.#inEffect(this.#firstAfter(t, Atomics.load(ctl, COUNT)));
      if (Atomics.load(ctl, SEQ) === s) return cap;
    }
  }

  /**
   * Blocks this (worker) thread, of slot `index`, while its CPU is taken and a scheduled
   * change gives it back: until that instant, or sooner when the main thread changes the
   * capacity or the schedule. Returns at once when its CPU is not taken, or is taken with
   * no return scheduled.
   */
  waitForCpu(index: number): void {
    const ctl = this.#ctl;
    for (;;) {
      const s = Atomics.load(ctl, SEQ);
      if ((s & 1) !== 0) continue;
      const n = Atomics.load(ctl, COUNT);
      let i = this.#firstAfter(wallClockMs(), n);
      let back = -1;
      if (this.#inEffect(i) <= index) {
        for (; i < n; i++) {
          if (Atomics.load(ctl, CPUS + i) > index) {
            back = this.#at[i]!;
            break;
          }
        }
      }
      if (Atomics.load(ctl, SEQ) !== s) continue;
      if (back < 0) return;
      // Wakes at `back`, or when `seq` moves on from `s` (a write since these reads).
      Atomics.wait(ctl, SEQ, s, Math.max(0, back - wallClockMs()));
    }
  }

  /** The index of the first of the `n` entries after `t` (all before it are in effect by `t`). */
  #firstAfter(t: number, n: number): number {
    let i = 0;
    while (i < n && this.#at[i]! <= t) i++;
    return i;
  }

  /** The capacity once the first `i` entries are in effect. */
  #inEffect(i: number): number {
    return Atomics.load(this.#ctl, i === 0 ? CAPACITY : CPUS + i - 1);
  }
}
