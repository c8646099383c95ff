/**
 * The controller and the node agents: system proclets, pinned to their nodes.
 *
 * The controller keeps the directory (proclet id -> node, type, kind, size), each node's
 * capacity and use, places new proclets, orchestrates migrations and pushes events to
 * subscribers. It is not on the hot path: callers cache locations and ask it only when a
 * cached location is missing or wrong.
 *
 * Invariants: a directory entry names the node that holds the proclet ACTIVE, except
 * during a migration, when it names the source until the target holds the state.
 * Migrations of one proclet are serialized.
 *
 * Not handled (later issues): controller fail-over; scheduling policy beyond placement.
 */
import {
  InvalidArgumentError,
  MemoryBudgetError,
  CapacityError,
  NodeLostError,
  ProcletNotFoundError,
} from './errors.js';
import { formatBytes } from './options.js';
import type { Frame } from './codec.js';
import { defineProclet } from './proclet.js';
import type { ProcletKind } from './proclet.js';
import { MEMBERSHIP_TOPICS, agentId } from './runtime.js';
import { atWallClock } from './capacity.js';
import { Scheduler } from './scheduler.js';
import type { SchedulerTuning } from './scheduler.js';
import type { MigrateOutResult, NodeUsage, Runtime } from './runtime.js';

/** A migration that happened: emitted as the `migration` event and returned by `cluster.migrate`. */
export interface MigrationEvent {
  /** The proclet's id. */
  proclet: string;
  /** Its type name. */
  type: string;
  /** Node it left. */
  from: string;
  /** Node it moved to. */
  to: string;
  /** Bytes of encoded state moved. */
  bytes: number;
  /** Milliseconds during which calls to the proclet queued (quiesce, save, transfer, restore). */
  blockingMs: number;
  /** Milliseconds from the controller's decision to the directory update. */
  totalMs: number;
  /** Why it moved, e.g. `'requested'`, `'memory-pressure'`, `'drain'`. */
  reason: string;
}

/** A node was lost: emitted as the `nodeLost` event. */
export interface NodeLostEvent {
  /** The lost node. */
  node: string;
  /** Why it is considered lost. */
  reason: string;
  /** Proclets that were on it and are gone. */
  proclets: string[];
}

/** A node joined the cluster: emitted as the `nodeJoined` event. */
export interface NodeJoinedEvent {
  /** The new node's id. */
  node: string;
  /** Its compute slots. */
  cpus: number;
  /** Its memory budget in bytes. */
  memory: number;
  /** Where it can be dialed (`ws://host:port`), or null in-process. */
  address: string | null;
}

/** One node in {@link ClusterStats}. */
export interface NodeStats {
  /** Node id. */
  id: string;
  /** Compute slots (worker threads). */
  cpus: number;
  /** Memory budget in bytes. */
  memory: number;
  /** Bytes held by the node's proclets. */
  memoryUsed: number;
  /** Workers running a task now. */
  cpusBusy: number;
  /** Tasks waiting for a worker. */
  tasksQueued: number;
  /** Tasks completed since the node started. */
  tasksCompleted: number;
  /** Total worker busy time in milliseconds. */
  workerBusyMs: number;
  /** Proclets on the node, by kind (system proclets excluded). */
  proclets: { memory: number; compute: number };
  /** True once the node is lost. */
  lost: boolean;
}

/** One proclet in {@link ClusterStats}. */
export interface ProcletInfo {
  /** Proclet id. */
  id: string;
  /** Registered type name. */
  type: string;
  /** Memory or compute. */
  kind: ProcletKind;
  /** Node it is on. */
  node: string;
  /** Bytes held, as last reported. */
  size: number;
}

/** A snapshot of the cluster from the controller. */
export interface ClusterStats {
  /** Every node, lost ones included. */
  nodes: NodeStats[];
  /** Every live proclet (system proclets excluded). */
  proclets: ProcletInfo[];
  /** Migrations carried out since start. */
  migrations: number;
  /** Proclets lost with their nodes since start. */
  lostProclets: number;
}

/** @internal A node as the controller sees it. */
export interface NodeRecord {
  id: string;
  cpus: number;
  memory: number;
  used: number;
  reserved: number;
  compute: number;
  lost: string | null;
  address: string | null;
  /** Being drained: no new placements; everything moves away. */
  draining: boolean;
}

interface Entry {
  id: string;
  type: string;
  kind: ProcletKind;
  node: string;
  size: number;
  pinned: boolean;
  busy: Promise<unknown> | null;
}

/** @internal Options of a creation, as sent to the controller. */
export interface CreateRequest {
  node?: string;
  near?: string;
  size?: number;
  pinned?: boolean;
}

/** A node's capacity changed: emitted as the `capacity` event. */
export interface CapacityEvent {
  /** The node. */
  node: string;
  /** Its compute slots now. */
  cpus: number;
  /** Its memory budget now, in bytes. */
  memory: number;
}

/** A drain finished: emitted as the `drained` event and returned by `cluster.drain`. */
export interface DrainResult {
  /** The node that left. */
  node: string;
  /** Proclets moved off it. */
  moved: number;
  /** Bytes of proclet state moved. */
  bytes: number;
  /** Milliseconds from the request to the node leaving. */
  ms: number;
}

/** @internal The controller proclet. */
export class Controller {
  readonly #rt: Runtime;
  readonly #nodes = new Map<string, NodeRecord>();
  readonly #dir = new Map<string, Entry>();
  readonly #lost = new Map<string, string>();
  /** Nodes and clients that hear membership events (`nodeJoined`, `nodeLost`). */
  readonly #subscribers = new Set<string>();
  /** For every other topic, the nodes and clients with a listener for it (see `listen`). */
  readonly #listeners = new Map<string, Set<string>>();
  /** Name directory: name -> proclet id (structures opened by name). */
  readonly #names = new Map<string, string>();
  #seq = 0;
  #migrations = 0;
  #lostProclets = 0;
  readonly #scheduler: Scheduler;

  constructor(rt: Runtime, tuning: Partial<SchedulerTuning> = {}) {
    this.#rt = rt;
    this.#scheduler = new Scheduler(
      {
        liveNodes: () => [...this.#nodes.values()].filter((n) => n.lost === null),
        proclets: (node) => [...this.#dir.values()].filter((e) => e.node === node).map((e) => ({ id: e.id, kind: e.kind, size: e.size, busy: e.busy !== null, pinned: e.pinned })),
        migrate: (id, to, reason) => this.migrate(id, to, reason),
        emit: (topic, payload) => this.#emit(topic, payload),
      },
      tuning,
    );
    this.#scheduler.start();
  }

  /**
   * Adds a node; returns every live node as `[id, address]` so the newcomer can dial them,
   * and tells subscribers with a `nodeJoined` event.
   */
  join(node: string, cpus: number, memory: number, address: string | null = null): Array<[string, string | null]> {
    if (typeof node !== 'string' || !Number.isInteger(cpus) || cpus < 0 || typeof memory !== 'number' || memory < 0) {
      throw new InvalidArgumentError(`join: bad node record ${String(node)}`);
    }
    const old = this.#nodes.get(node);
    if (old !== undefined && old.lost === null) throw new InvalidArgumentError(`node id '${node}' is already in the cluster`);
    if (old !== undefined) throw new InvalidArgumentError(`node id '${node}' was lost; a node that comes back must join with a new id`);
    this.#nodes.set(node, { id: node, cpus, memory, used: 0, reserved: 0, compute: 0, lost: null, address, draining: false });
    this.#scheduler.touch();
    this.#emit('nodeJoined', { node, cpus, memory, address } satisfies NodeJoinedEvent);
    this.#subscribers.add(node);
    return [...this.#nodes.values()].filter((n) => n.lost === null).map((n) => [n.id, n.address]);
  }

  subscribe(node: string): void {
    if (typeof node !== 'string') throw new InvalidArgumentError('subscribe: node must be a node or client id');
    this.#subscribers.add(node);
  }

  unsubscribe(node: string): void {
    this.#deafen(node);
  }

  /**
   * A node or client has a listener for `topic` (`on`), or no longer has one (`off`).
   * Events other than membership go only where they are listened to: a cluster of many
   * nodes does not wake every node for each migration. A runtime says so when its first
   * listener for a topic is added, and drops the topic when an event comes for it with no
   * listener left (so a listener taken off and put back misses nothing in between).
   */
  listen(node: string, topic: string, on: boolean): void {
    if (typeof node !== 'string' || typeof topic !== 'string' || typeof on !== 'boolean') throw new InvalidArgumentError('listen: expects (node, topic, on)');
    if (MEMBERSHIP_TOPICS.has(topic)) return;
    let set = this.#listeners.get(topic);
    if (on) {
      const rec = this.#nodes.get(node);
      if (rec !== undefined && rec.lost !== null) return; // a late message from a node that is gone
      if (set === undefined) this.#listeners.set(topic, (set = new Set()));
      set.add(node);
    } else if (set !== undefined) {
      set.delete(node);
      if (set.size === 0) this.#listeners.delete(topic);
    }
  }

  /** A node or client left or was lost: it hears no more events. */
  #deafen(node: string): void {
    this.#subscribers.delete(node);
    for (const [topic, set] of this.#listeners) {
      if (set.delete(node) && set.size === 0) this.#listeners.delete(topic);
    }
  }

  /** Live nodes with their capacity and use as the controller sees it. */
  nodes(): NodeRecord[] {
    return [...this.#nodes.values()].map((n) => ({ ...n }));
  }

  #live(node: string): NodeRecord {
    const n = this.#nodes.get(node);
    if (n === undefined) throw new InvalidArgumentError(`there is no node '${node}' in the cluster (nodes: ${[...this.#nodes.keys()].join(', ')})`);
    if (n.lost !== null) throw new NodeLostError(`node ${node} was lost (${n.lost})`, { data: { node } });
    return n;
  }

  /** Picks a node for a new proclet of `kind` holding about `size` bytes. */
  place(kind: ProcletKind, size: number, near?: string): string {
    if (near !== undefined) {
      const e = this.#dir.get(near);
      const at = e?.node ?? (this.#nodes.has(near) ? near : undefined);
      if (at === undefined) throw new ProcletNotFoundError(`placement near ${near}: no such proclet or node`);
      const n = this.#live(at);
      if (kind === 'compute' ? n.cpus > 0 : n.memory - n.used - n.reserved >= size) return at;
    }
    let best: NodeRecord | undefined;
    let bestScore = -Infinity;
    for (const n of this.#nodes.values()) {
      if (n.lost !== null || n.draining) continue;
      const free = n.memory - n.used - n.reserved;
      if (free < size) continue;
      let score: number;
      if (kind === 'compute') {
        if (n.cpus === 0) continue;
        score = (n.cpus - n.compute) / n.cpus + free / 2 ** 50;
      } else {
        score = free;
      }
      if (score > bestScore) {
        bestScore = score;
        best = n;
      }
    }
    if (best === undefined) {
      const live = [...this.#nodes.values()].filter((n) => n.lost === null && !n.draining);
      if (kind === 'compute' && live.every((n) => n.cpus === 0)) throw new CapacityError('no node has CPUs for a compute proclet; start a node with cpus > 0');
      const free = live.reduce((a, n) => Math.max(a, n.memory - n.used - n.reserved), 0);
      throw new MemoryBudgetError(`no node has ${formatBytes(size)} of free memory (the most free on one node is ${formatBytes(free)}); add nodes or raise their memory`, {
        data: { size, largestFree: free },
      });
    }
    return best.id;
  }

  async create(typeName: string, module: string | null, kind: ProcletKind, args: unknown[], req: CreateRequest): Promise<[string, string]> {
    const size = req.size ?? 0;
    const node = req.node !== undefined ? this.#live(req.node).id : this.place(kind, size, req.near);
    const rec = this.#live(node);
    if (rec.draining) throw new CapacityError(`node ${node} is draining and takes no new proclets`);
    if (kind === 'compute' && rec.cpus === 0) throw new CapacityError(`node ${node} has no CPUs for a compute proclet`);
    const id = `p${(++this.#seq).toString(36)}`;
    rec.reserved += size;
    try {
      await this.#rt.invoke(agentId(node), 'create', [id, typeName, module ?? undefined, args]);
    } finally {
      rec.reserved -= size;
    }
    this.#dir.set(id, { id, type: typeName, kind, node, size: 0, pinned: req.pinned === true, busy: null });
    if (kind === 'compute') rec.compute++;
    return [id, node];
  }

  locate(id: string): string {
    const e = this.#dir.get(id);
    if (e !== undefined) return e.node;
    const lostOn = this.#lost.get(id);
    if (lostOn !== undefined) {
      throw new NodeLostError(`proclet ${id} was on node ${lostOn}, which was lost`, { data: { node: lostOn, proclets: [id] } });
    }
    throw new ProcletNotFoundError(`there is no proclet ${id} in the cluster (never created, or destroyed)`, { data: { proclet: id } });
  }

  async migrate(id: string, to: string, reason: string): Promise<MigrationEvent> {
    const e = this.#dir.get(id);
    if (e === undefined) this.locate(id); // throws the right error
    const entry = e!;
    while (entry.busy !== null) await entry.busy.catch(() => undefined);
    if (!this.#dir.has(id)) this.locate(id);
    const target = this.#live(to);
    if (target.draining) throw new CapacityError(`cannot move proclet ${id} to node ${to}: it is draining`);
    const from = entry.node;
    if (from === to) return { proclet: id, type: entry.type, from, to, bytes: 0, blockingMs: 0, totalMs: 0, reason };
    if (entry.kind === 'memory' && target.memory - target.used - target.reserved < entry.size) {
      throw new MemoryBudgetError(`cannot move proclet ${id} (${formatBytes(entry.size)}) to node ${to}: it has ${formatBytes(Math.max(0, target.memory - target.used - target.reserved))} free of ${formatBytes(target.memory)}`, {
        data: { proclet: id, node: to, size: entry.size },
      });
    }
    if (entry.kind === 'compute' && target.cpus === 0) throw new CapacityError(`cannot move compute proclet ${id} to node ${to}: it has no CPUs`);
    const t0 = performance.now();
    target.reserved += entry.size;
    const work = this.#rt.invoke(agentId(from), 'migrateOut', [id, to]) as Promise<MigrateOutResult>;
    entry.busy = work;
    let res: MigrateOutResult;
    try {
      res = await work;
    } finally {
      entry.busy = null;
      target.reserved -= entry.size;
    }
    const src = this.#nodes.get(from);
    if (src !== undefined) {
      src.used -= entry.size;
      if (entry.kind === 'compute') src.compute--;
    }
    entry.node = to;
    entry.size = res.size;
    target.used += entry.size;
    if (entry.kind === 'compute') target.compute++;
    this.#migrations++;
    this.#scheduler.touch();
    const ev: MigrationEvent = { proclet: id, type: entry.type, from, to, bytes: res.bytes, blockingMs: res.blockingMs, totalMs: performance.now() - t0, reason };
    // After the answer to the caller has gone out: the event is news, the answer is awaited.
    setImmediate(() => this.#emit('migration', ev));
    return ev;
  }

  async destroy(id: string): Promise<void> {
    const e = this.#dir.get(id);
    if (e === undefined) return;
    while (e.busy !== null) await e.busy.catch(() => undefined);
    await this.#rt.invoke(agentId(e.node), 'destroy', [id]);
    this.#forget(e);
  }

  #forget(e: Entry): void {
    this.#dir.delete(e.id);
    this.#unbindAll(e.id);
    const n = this.#nodes.get(e.node);
    if (n !== undefined) {
      n.used -= e.size;
      if (e.kind === 'compute') n.compute--;
    }
  }

  reportSizes(node: string, sizes: Array<[string, number]>): void {
    if (!Array.isArray(sizes)) return;
    const n = this.#nodes.get(node);
    for (const item of sizes) {
      if (!Array.isArray(item)) continue;
      const [id, size] = item;
      const e = this.#dir.get(id);
      if (e === undefined || e.node !== node || typeof size !== 'number') continue;
      if (n !== undefined) n.used += size - e.size;
      e.size = size;
    }
    this.#scheduler.touch();
    // Fast, local decision: a node over its high-water mark sheds proclets now.
    if (n !== undefined && n.lost === null && n.used > n.memory * 0.9) void this.#scheduler.relieveMemory(node).catch(() => undefined);
  }

  /** Called by a node that finds itself over its memory budget. */
  relieve(node: string): void {
    void this.#scheduler.relieveMemory(node).catch(() => undefined);
  }

  /**
   * Changes a node's capacity (emulating another tenant taking or returning resources).
   * The node applies it at once; compute work follows the `capacity` event, and memory
   * over the new budget moves away.
   */
  async setCapacity(node: string, cpus: number | null, memory: number | null, at: number | null = null): Promise<CapacityEvent> {
    const n = this.#live(node);
    if (cpus !== null && (!Number.isInteger(cpus) || cpus < 0)) throw new RangeError(`cpus must be a non-negative integer, got ${cpus}`);
    if (memory !== null && (typeof memory !== 'number' || !(memory >= 0))) throw new RangeError(`memory must be a non-negative number of bytes, got ${memory}`);
    if (at !== null && (typeof at !== 'number' || !Number.isFinite(at))) throw new RangeError(`at must be a time in milliseconds, got ${String(at)}`);
    if (at !== null) {
      // Scheduled: the node applies it on its own clock at `at`; the directory follows then.
      await this.#rt.invoke(agentId(node), 'setCapacity', [cpus, memory, at]);
      atWallClock(at, () => this.#recordCapacity(n, cpus, memory), { unref: true });
      return { node, cpus: cpus ?? n.cpus, memory: memory ?? n.memory };
    }
    // Recorded first: a change racing this one (another node given a CPU at the same
    // moment) already sees it when deciding where compute proclets go.
    const before = { cpus: n.cpus, memory: n.memory };
    if (cpus !== null) n.cpus = cpus;
    if (memory !== null) n.memory = memory;
    try {
      await this.#rt.invoke(agentId(node), 'setCapacity', [cpus, memory, null]);
    } catch (e) {
      n.cpus = before.cpus;
      n.memory = before.memory;
      throw e;
    }
    return this.#recordCapacity(n, null, null);
  }

  /** Updates the directory's view of a node's capacity, tells subscribers, relieves pressure. */
  #recordCapacity(n: NodeRecord, cpus: number | null, memory: number | null): CapacityEvent {
    if (cpus !== null) n.cpus = cpus;
    if (memory !== null) n.memory = memory;
    const ev: CapacityEvent = { node: n.id, cpus: n.cpus, memory: n.memory };
    if (n.lost !== null) return ev;
    this.#emit('capacity', ev);
    this.#scheduler.touch();
    if (n.used > n.memory * 0.9) void this.#scheduler.relieveMemory(n.id).catch(() => undefined);
    if (n.cpus === 0 && n.compute > 0) void this.#scheduler.relieveCpu(n.id).catch(() => undefined);
    return ev;
  }

  /**
   * Moves every proclet off a node, then lets it leave. New proclets are not placed there
   * meanwhile. The controller's own node cannot be drained.
   */
  async drain(node: string): Promise<DrainResult> {
    const n = this.#live(node);
    if (node === this.#rt.id) throw new InvalidArgumentError(`node ${node} hosts the controller and cannot be drained; stop the cluster instead`);
    const t0 = performance.now();
    n.draining = true;
    this.#emit('draining', { node });
    let res: { moved: number; bytes: number };
    try {
      res = await this.#scheduler.drain(node);
    } catch (e) {
      n.draining = false;
      throw e;
    }
    n.lost = 'left the cluster after draining';
    this.#deafen(node);
    await this.#rt.invoke(agentId(node), 'leave', []).catch(() => undefined);
    const out: DrainResult = { node, moved: res.moved, bytes: res.bytes, ms: performance.now() - t0 };
    this.#emit('drained', out);
    return out;
  }

  /** Called by the controller's runtime when a peer is lost. */
  nodeLost(node: string, reason: string): void {
    const n = this.#nodes.get(node);
    if (n === undefined) {
      this.#deafen(node);
      return;
    }
    if (n.lost !== null) return;
    n.lost = reason;
    this.#deafen(node);
    const gone: string[] = [];
    for (const e of this.#dir.values()) {
      if (e.node === node) gone.push(e.id);
    }
    for (const id of gone) {
      this.#dir.delete(id);
      this.#lost.set(id, node);
      this.#unbindAll(id);
    }
    this.#lostProclets += gone.length;
    n.used = 0;
    n.compute = 0;
    this.#scheduler.touch();
    this.#emit('nodeLost', { node, reason, proclets: gone } satisfies NodeLostEvent);
  }

  /**
   * Binds `name` to proclet `id` unless the name is bound to another live proclet.
   * Returns the id the name is bound to afterwards (the caller's id when it won).
   */
  bindName(name: string, id: string): string {
    if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('bindName: name must be a non-empty string');
    const held = this.#names.get(name);
    if (held !== undefined && this.#dir.has(held)) return held;
    if (!this.#dir.has(id)) this.locate(id); // throws the right error
    this.#names.set(name, id);
    return id;
  }

  /** The proclet bound to `name`, or null. */
  lookupName(name: string): string | null {
    const id = this.#names.get(name);
    if (id === undefined) return null;
    if (!this.#dir.has(id)) {
      this.#names.delete(name);
      return null;
    }
    return id;
  }

  /** Removes the binding of `name` when it points at `id`; true when it did. */
  unbindName(name: string, id: string): boolean {
    if (this.#names.get(name) !== id) return false;
    this.#names.delete(name);
    return true;
  }

  #unbindAll(id: string): void {
    if (this.#names.size === 0) return;
    for (const [name, bound] of this.#names) if (bound === id) this.#names.delete(name);
  }

  async stats(): Promise<ClusterStats> {
    const usages = await Promise.all(
      [...this.#nodes.values()].map(async (n): Promise<NodeUsage | null> => {
        if (n.lost !== null) return null;
        try {
          return (await this.#rt.invoke(agentId(n.id), 'usage', [])) as NodeUsage;
        } catch {
          return null;
        }
      }),
    );
    const byNode = new Map<string, { memory: number; compute: number }>();
    const proclets: ProcletInfo[] = [];
    for (const e of this.#dir.values()) {
      proclets.push({ id: e.id, type: e.type, kind: e.kind, node: e.node, size: e.size });
      const c = byNode.get(e.node) ?? { memory: 0, compute: 0 };
      c[e.kind]++;
      byNode.set(e.node, c);
    }
    const nodes = [...this.#nodes.values()].map((n, i): NodeStats => {
      const u = usages[i] ?? null;
      return {
        id: n.id,
        cpus: n.cpus,
        memory: n.memory,
        memoryUsed: u?.memoryUsed ?? n.used,
        cpusBusy: u?.cpusBusy ?? 0,
        tasksQueued: u?.tasksQueued ?? 0,
        tasksCompleted: u?.tasksCompleted ?? 0,
        workerBusyMs: u?.workerBusyMs ?? 0,
        proclets: byNode.get(n.id) ?? { memory: 0, compute: 0 },
        lost: n.lost !== null,
      };
    });
    return { nodes, proclets, migrations: this.#migrations, lostProclets: this.#lostProclets };
  }

  #emit(topic: string, payload: unknown): void {
    const to = MEMBERSHIP_TOPICS.has(topic) ? this.#subscribers : this.#listeners.get(topic);
    if (to === undefined) return;
    for (const node of to) this.#rt.sendEvent(node, topic, payload);
  }

  /** Stops background work (the global pass); not callable remotely. */
  _stop(): void {
    this.#scheduler.stop();
  }

  /** Lets other parts of the runtime (schedulers, structures) publish cluster events. */
  publish(topic: string, payload: unknown): void {
    if (typeof topic !== 'string') return;
    this.#emit(topic, payload);
  }
}

/** @internal The agent proclet of one node: hosting, migration halves, usage. */
export class NodeAgent {
  readonly #rt: Runtime;
  constructor(rt: Runtime) {
    this.#rt = rt;
  }
  create(id: string, typeName: string, module: string | undefined, args: unknown[]): Promise<void> {
    return this.#rt.hostNew(id, typeName, module, args);
  }
  accept(id: string, typeName: string, module: string | undefined, state: Frame, size: number, sizeReported: boolean): Promise<void> {
    return this.#rt.hostRestored(id, typeName, module, state, size, sizeReported);
  }
  migrateOut(id: string, to: string): Promise<MigrateOutResult> {
    return this.#rt.migrateOut(id, to);
  }
  destroy(id: string): Promise<boolean> {
    return this.#rt.destroyLocal(id);
  }
  usage(): NodeUsage {
    return this.#rt.usage();
  }
  setCapacity(cpus: number | null, memory: number | null, at: number | null): void {
    this.#rt.setCapacity(cpus, memory, at);
  }
  /** The node leaves after answering (drain finished). */
  leave(): void {
    setImmediate(() => void this.#rt.leave());
  }
  ping(): string {
    return this.#rt.id;
  }
}

/** @internal */
export const ControllerType = defineProclet('quicksand.controller', Controller, { pinned: true });
/** @internal */
export const NodeAgentType = defineProclet('quicksand.agent', NodeAgent, { pinned: true });
