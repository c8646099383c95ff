/**
 * The scheduler: decisions about where proclets should be, on top of the controller's
 * directory. Two levels, as in Quicksand:
 *
 * - Fast, local: a node whose proclets outgrow its memory budget (it grew, or its budget
 *   shrank) asks at once for relief; the scheduler moves its largest movable memory
 *   proclets to the nodes with the most free memory until it is under its high-water mark.
 *   A node that loses CPU stops its workers beyond the new capacity between two elements
 *   (range tasks hand their unfinished rest back, and the thread pool gives it to a runner
 *   on a node with CPU), and compute proclets on a node left with no CPU move to nodes
 *   with a CPU no compute proclet claims.
 * - Slow, global: every `rebalanceMs`, if memory use is badly uneven (utilisation spread
 *   above `spread` and the fullest node above `highWater`), one proclet moves from the
 *   fullest to the emptiest node. A node that joins is empty, so it receives work this way.
 *
 * Semantics: every move is an ordinary migration (exactly-once calls, events with a
 * reason: `memory-pressure`, `cpu-pressure`, `rebalance`, `drain`). Draining a node moves
 * every proclet away before the node leaves; nothing is lost.
 *
 * Invariants: at most one relief pass per node at a time; placement never picks a
 * draining node; a proclet is moved by one decision at a time (the controller serializes
 * migrations per proclet).
 *
 * Not handled: affinity beyond `near` placement (chatty proclets are kept together only
 * when created near each other); CPU-aware moves of memory proclets.
 */

/** @internal Tuning of the scheduler. */
export interface SchedulerTuning {
  /** A node above this fraction of its memory budget sheds proclets. @defaultValue 0.9 */
  highWater: number;
  /** The global pass runs this often, in milliseconds. @defaultValue 250 */
  rebalanceMs: number;
  /** Utilisation spread (fullest minus emptiest) that the global pass corrects. @defaultValue 0.3 */
  spread: number;
  /** Migrations a drain runs at once. @defaultValue 4 */
  drainParallel: number;
}

/** @internal */
export const DEFAULT_TUNING: Readonly<SchedulerTuning> = Object.freeze({ highWater: 0.9, rebalanceMs: 250, spread: 0.3, drainParallel: 4 });

/** @internal What the scheduler needs from the controller. */
export interface SchedulerHost {
  liveNodes(): Array<{ id: string; cpus: number; memory: number; used: number; reserved: number; compute: number; draining: boolean }>;
  proclets(node: string): Array<{ id: string; kind: 'memory' | 'compute'; size: number; busy: boolean; pinned: boolean }>;
  migrate(id: string, to: string, reason: string): Promise<unknown>;
  emit(topic: string, payload: unknown): void;
}

/** @internal */
export class Scheduler {
  readonly #host: SchedulerHost;
  readonly #tuning: SchedulerTuning;
  readonly #relieving = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #dirty = false;
  #passing = false;

  constructor(host: SchedulerHost, tuning: Partial<SchedulerTuning> = {}) {
    this.#host = host;
    this.#tuning = { ...DEFAULT_TUNING, ...tuning };
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.#globalPass(), this.#tuning.rebalanceMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Something changed (sizes, nodes, capacity): the next global pass looks. */
  touch(): void {
    this.#dirty = true;
  }

  /** Fast path: moves memory proclets off `node` until it is under its high-water mark. */
  async relieveMemory(node: string, reason = 'memory-pressure'): Promise<number> {
    if (this.#relieving.has(node)) return 0;
    this.#relieving.add(node);
    let moved = 0;
    try {
      for (;;) {
        const me = this.#host.liveNodes().find((n) => n.id === node);
        if (me === undefined) return moved;
        const over = me.used - me.memory * this.#tuning.highWater;
        if (over <= 0) return moved;
        const candidates = this.#host.proclets(node).filter((p) => p.kind === 'memory' && !p.busy && !p.pinned && p.size > 0);
        if (candidates.length === 0) return moved;
        candidates.sort((a, b) => a.size - b.size);
        // The smallest proclet that alone brings the node under its mark, else the largest.
        const pick = candidates.find((p) => p.size >= over) ?? candidates[candidates.length - 1]!;
        const target = this.#roomiest(pick.size, node);
        if (target === undefined) {
          this.#host.emit('pressure', { node, kind: 'memory', overBytes: over, message: `node ${node} is over its memory budget and no other node has ${pick.size} bytes free; add nodes or raise budgets` });
          return moved;
        }
        await this.#host.migrate(pick.id, target, reason);
        moved++;
      }
    } finally {
      this.#relieving.delete(node);
    }
  }

  /** Fast path: compute proclets on a node without CPUs move to nodes with free CPUs. */
  async relieveCpu(node: string): Promise<number> {
    const me = this.#host.liveNodes().find((n) => n.id === node);
    if (me === undefined || me.cpus > 0) return 0;
    let moved = 0;
    for (const p of this.#host.proclets(node)) {
      if (p.kind !== 'compute' || p.pinned) continue;
      // Only to a node with a CPU no compute proclet claims: a node that already runs as
      // many as it has CPUs gains nothing (its work flows there by yielding anyway).
      const target = this.#freestCpu(node, true);
      if (target === undefined) break;
      await this.#host.migrate(p.id, target, 'cpu-pressure');
      moved++;
    }
    return moved;
  }

  /** Moves every movable proclet off `node` (which the caller has marked draining). */
  async drain(node: string): Promise<{ moved: number; bytes: number }> {
    const all = this.#host.proclets(node).filter((p) => !p.pinned);
    let moved = 0;
    let bytes = 0;
    const queue = [...all].sort((a, b) => b.size - a.size);
    const failures: string[] = [];
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const target = p.kind === 'compute' ? this.#freestCpu(node) : this.#roomiest(p.size, node);
        if (target === undefined) {
          failures.push(`${p.id} (${p.kind}, ${p.size} bytes): no other node has room`);
          continue;
        }
        try {
          await this.#host.migrate(p.id, target, 'drain');
          moved++;
          bytes += p.size;
        } catch (e) {
          failures.push(`${p.id}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: this.#tuning.drainParallel }, worker));
    if (failures.length > 0) throw new Error(`could not move ${failures.length} proclet(s) off node ${node}: ${failures.join('; ')}`);
    return { moved, bytes };
  }

  #roomiest(size: number, exclude: string): string | undefined {
    let best: string | undefined;
    let bestFree = -Infinity;
    for (const n of this.#host.liveNodes()) {
      if (n.id === exclude || n.draining) continue;
      const free = n.memory - n.used - n.reserved;
      if (free >= size && free > bestFree) {
        bestFree = free;
        best = n.id;
      }
    }
    return best;
  }

  #freestCpu(exclude: string, needFreeSlot = false): string | undefined {
    let best: string | undefined;
    let bestScore = -Infinity;
    for (const n of this.#host.liveNodes()) {
      if (n.id === exclude || n.draining || n.cpus === 0) continue;
      if (needFreeSlot && n.compute >= n.cpus) continue;
      const score = (n.cpus - n.compute) / n.cpus;
      if (score > bestScore) {
        bestScore = score;
        best = n.id;
      }
    }
    return best;
  }

  /** Slow path: one corrective move when memory use is badly uneven. */
  async #globalPass(): Promise<void> {
    if (!this.#dirty || this.#passing) return;
    this.#dirty = false;
    this.#passing = true;
    try {
      const nodes = this.#host.liveNodes().filter((n) => !n.draining && n.memory > 0);
      if (nodes.length < 2) return;
      const util = (n: (typeof nodes)[number]): number => (n.used + n.reserved) / n.memory;
      nodes.sort((a, b) => util(b) - util(a));
      const full = nodes[0]!;
      const empty = nodes[nodes.length - 1]!;
      for (const n of nodes) if (n.used > n.memory * this.#tuning.highWater) void this.relieveMemory(n.id);
      if (util(full) < 0.6 || util(full) - util(empty) < this.#tuning.spread) return;
      // Move the proclet that best halves the gap without overshooting.
      const gapBytes = ((util(full) - util(empty)) / 2) * Math.min(full.memory, empty.memory);
      const room = empty.memory - empty.used - empty.reserved;
      const fits = this.#host
        .proclets(full.id)
        .filter((p) => p.kind === 'memory' && !p.busy && !p.pinned && p.size > 0 && p.size <= gapBytes && p.size <= room)
        .sort((a, b) => b.size - a.size);
      const pick = fits[0];
      if (pick === undefined) return;
      await this.#host.migrate(pick.id, empty.id, 'rebalance');
      this.#dirty = true; // look again next pass
    } catch {
      this.#dirty = true;
    } finally {
      this.#passing = false;
    }
  }
}
