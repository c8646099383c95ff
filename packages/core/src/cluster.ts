/**
 * `Cluster`: the user's handle on a set of nodes. The same class serves the in-process
 * mode (`Cluster.start`) and real processes (`LocalCluster.start` in `@quicksand/net`);
 * each instance is a view from one runtime, so refs made through it call locally when the
 * proclet shares that runtime's node.
 */
import type { EventEmitter } from 'node:events';
import { V8Codec } from './codec.js';
import type { Codec } from './codec.js';
import { ClosedError, InvalidArgumentError } from './errors.js';
import { checkInt, checkOptions, parseSize } from './options.js';
import type { Size } from './options.js';
import type { ProcletType } from './proclet.js';
import { Ref } from './ref.js';
import { CONTROLLER_ID, Runtime, agentId } from './runtime.js';
import { InProcessNetwork } from './transport.js';
import { Controller, ControllerType, NodeAgent, NodeAgentType } from './controller.js';
import type { CapacityEvent, ClusterStats, CreateRequest, DrainResult, MigrationEvent, NodeJoinedEvent, NodeLostEvent } from './controller.js';
import { RemotePtr, PointerType } from './pointer.js';
import type { PointerCell } from './pointer.js';

/** Budget of one node. */
export interface NodeSpec {
  /** Compute slots: worker threads for compute proclets. 0 makes a memory-only node. */
  cpus: number;
  /** Bytes its memory proclets may hold, e.g. `'1GiB'`. */
  memory: Size;
}

/** Options of the in-process {@link Cluster.start}. */
export interface ClusterOptions {
  /** The nodes, at least one. Node ids are `n0`, `n1`, ... in this order. */
  nodes: NodeSpec[];
  /** Codec used on every hop between nodes. @defaultValue {@link V8Codec} */
  codec?: Codec;
}

/** Where to put a new proclet. */
export interface CreateOptions {
  /** Put it on this node. */
  node?: string;
  /** Put it on the node of this proclet (or node id), when that node has room. */
  near?: Ref | RemotePtr<unknown> | string;
  /** Bytes it will hold at first, for placement. @defaultValue 0 */
  size?: Size;
}

/** Options of {@link Cluster.alloc}. */
export interface AllocOptions {
  /** Keep the value on the node of this proclet or pointer (or node id). */
  near?: Ref | RemotePtr<unknown> | string;
  /** Put it on this node. */
  node?: string;
}

/** Events a cluster emits. */
export interface ClusterEvents {
  /** A proclet moved. */
  migration: MigrationEvent;
  /** A node was lost with its proclets. */
  nodeLost: NodeLostEvent;
  /** A node joined the cluster. */
  nodeJoined: NodeJoinedEvent;
  /** A node's capacity changed (`setCapacity`). */
  capacity: CapacityEvent;
  /** A node finished draining and left. */
  drained: DrainResult;
  /** Other events published by structures and schedulers (splits, merges...). */
  [topic: string]: unknown;
}

/** @internal How a cluster view shuts the whole cluster down. */
export type Closer = () => Promise<void>;

/**
 * A Quicksand cluster, seen from one node or client.
 *
 * @example
 * ```ts
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '256MiB' }, { cpus: 1, memory: '256MiB' }] });
 * const counter = await cluster.create(CounterType, [], { node: 'n1' });
 * await counter.call('add', 1);
 * await cluster.migrate(counter, 'n0');   // calls keep working while it moves
 * await cluster.close();
 * ```
 */
export class Cluster {
  readonly #rt: Runtime;
  readonly #closer: Closer | null;
  #closed = false;

  /** @internal Use {@link Cluster.start} or `LocalCluster.start`. */
  constructor(rt: Runtime, closer: Closer | null) {
    this.#rt = rt;
    this.#closer = closer;
  }

  get #events(): EventEmitter {
    return this.#rt.events;
  }

  /**
   * Starts an in-process cluster: every node in this process, every message through the
   * codec. The controller and this view are on node `n0`.
   * @throws TypeError/RangeError for bad options, naming the option.
   */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const opts = checkOptions(options);
    if (!Array.isArray(opts.nodes) || opts.nodes.length === 0) throw new TypeError('options.nodes must be a non-empty array of { cpus, memory }');
    const specs = opts.nodes.map((n, i) => {
      checkOptions(n, `options.nodes[${i}]`);
      return { cpus: checkInt(n.cpus, `options.nodes[${i}].cpus`, 0, 1024), memory: parseSize(n.memory, `options.nodes[${i}].memory`) };
    });
    const codec = opts.codec ?? new V8Codec();
    const network = new InProcessNetwork();
    const runtimes = specs.map((spec, i) => {
      const id = `n${i}`;
      return new Runtime({ id, transport: network.endpoint(id), codec, controllerNode: 'n0', budget: spec });
    });
    const closeAll: Closer = async () => {
      await Promise.all(runtimes.map((r) => r.close()));
    };
    for (const rt of runtimes) {
      attachAgent(rt);
      rt.facade = new Cluster(rt, null);
    }
    const home = runtimes[0]!;
    attachController(home);
    for (const [i, spec] of specs.entries()) await home.invoke(CONTROLLER_ID, 'join', [`n${i}`, spec.cpus, spec.memory]);
    const view = new Cluster(home, closeAll);
    inProcess.set(view, { network, runtimes });
    return view;
  }

  /** The node (or client) this view calls from. */
  get nodeId(): string {
    return this.#rt.id;
  }

  /**
   * Creates a proclet and returns a ref to it. The controller places it by kind (memory
   * where memory is free, compute where CPUs are free) unless `options` say where.
   * @param type - from {@link defineProclet}
   * @param args - constructor arguments (carried by the codec)
   * @throws MemoryBudgetError or CapacityError when no node can take it.
   */
  async create<T extends object, A extends unknown[]>(type: ProcletType<T, A>, args: A, options: CreateOptions = {}): Promise<Ref<T>> {
    this.#open();
    if (typeof type !== 'object' || type === null || typeof type.name !== 'string') throw new TypeError('create: type must come from defineProclet');
    if (!Array.isArray(args)) throw new TypeError(`create(${type.name}): args must be an array of constructor arguments`);
    const opts = checkOptions(options);
    const req: CreateRequest = {};
    if (opts.node !== undefined) req.node = opts.node;
    if (opts.near !== undefined) req.near = nearId(opts.near);
    if (opts.size !== undefined) req.size = parseSize(opts.size, 'options.size');
    if (type.pinned) req.pinned = true;
    const [id] = (await this.#rt.invoke(CONTROLLER_ID, 'create', [type.name, type.module ?? null, type.kind, args, req])) as [string, string];
    return this.#rt.ref<T>(id);
  }

  /**
   * A ref to an existing proclet, from its id or its wire form `{ id }`.
   * @throws TypeError when `id` is neither.
   */
  ref<T extends object = object>(id: string | { id: string }): Ref<T> {
    const pid = typeof id === 'string' ? id : typeof id === 'object' && id !== null && typeof id.id === 'string' ? id.id : undefined;
    if (pid === undefined || pid.length === 0) throw new TypeError('ref: expected a proclet id or { id }');
    return this.#rt.ref<T>(pid);
  }

  /**
   * Moves a proclet to `node`. Calls that race the move queue and then follow it; each
   * runs exactly once. Resolves with the migration's figures (also emitted as `migration`).
   * @throws MemoryBudgetError when the target lacks room; MigrationError when it fails
   * (the proclet then stays where it was).
   */
  async migrate(ref: Ref | RemotePtr<unknown> | string, node: string, reason = 'requested'): Promise<MigrationEvent> {
    this.#open();
    if (typeof node !== 'string' || node.length === 0) throw new TypeError('migrate: node must be a node id');
    return (await this.#rt.invoke(CONTROLLER_ID, 'migrate', [nearId(ref), node, reason])) as MigrationEvent;
  }

  /** The node a proclet is on now (asks the controller). */
  async locate(ref: Ref | RemotePtr<unknown> | string): Promise<string> {
    this.#open();
    return (await this.#rt.invoke(CONTROLLER_ID, 'locate', [nearId(ref)])) as string;
  }

  /** Destroys a proclet; later calls to it fail with ProcletNotFoundError. */
  async destroy(ref: Ref | RemotePtr<unknown> | string): Promise<void> {
    this.#open();
    await this.#rt.invoke(CONTROLLER_ID, 'destroy', [nearId(ref)]);
  }

  /**
   * Allocates a value in a memory proclet and returns a distributed pointer to it; the
   * pointer keeps working after the value migrates.
   * @example
   * ```ts
   * const ptr = await cluster.alloc({ hits: 0 }, { near: someRef });
   * await ptr.set({ hits: 1 });
   * ```
   */
  async alloc<T>(value: T, options: AllocOptions = {}): Promise<RemotePtr<T>> {
    const opts = checkOptions(options);
    const create: CreateOptions = {};
    if (opts.node !== undefined) create.node = opts.node;
    if (opts.near !== undefined) create.near = opts.near;
    const ref = await this.create(PointerType, [value], create);
    return new RemotePtr<T>(ref, this);
  }

  /**
   * A pointer from its wire form `{ id }` (what a RemotePtr becomes when passed to another node).
   */
  pointer<T>(id: string | { id: string }): RemotePtr<T> {
    return new RemotePtr<T>(this.ref<PointerCell>(id), this);
  }

  /** A snapshot of nodes, proclets and counters, from the controller. */
  async stats(): Promise<ClusterStats> {
    this.#open();
    return (await this.#rt.invoke(CONTROLLER_ID, 'stats', [])) as ClusterStats;
  }

  /**
   * Changes a node's capacity, as when another tenant takes (or returns) CPUs or memory.
   * Resolves once the node applies it (or, with `options.at`, once the node has it
   * scheduled). Workers beyond the new CPU count stop between two elements of their range
   * task and the thread pool hands the rest to nodes with CPU; memory proclets beyond the
   * new budget move to nodes with room (see the `migration` events).
   * @param options.at - apply at this time, in wall-clock milliseconds
   * (`performance.timeOrigin + performance.now()`) on the node's clock, as a tenant would
   * take the core at that instant; used to emulate millisecond-scale load changes. The
   * node's workers apply a CPU change at that instant on their own clock (to within a
   * fraction of a millisecond): one losing its CPU stops between two elements, and one
   * getting it back starts the work queued for it.
   * @throws RangeError for a negative or fractional value.
   */
  async setCapacity(node: string, capacity: { cpus?: number; memory?: Size }, options: { at?: number } = {}): Promise<CapacityEvent> {
    this.#open();
    const c = checkOptions(capacity, 'capacity');
    const cpus = c.cpus === undefined ? null : checkInt(c.cpus, 'capacity.cpus', 0, 1024);
    const memory = c.memory === undefined ? null : parseSize(c.memory, 'capacity.memory');
    const at = checkOptions(options, 'options').at;
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) throw new TypeError(`options.at must be a time in milliseconds, got ${String(at)}`);
    return (await this.#rt.invoke(CONTROLLER_ID, 'setCapacity', [node, cpus, memory, at ?? null])) as CapacityEvent;
  }

  /**
   * Moves every proclet off `node`, then lets the node leave the cluster. Nothing is lost;
   * calls racing the moves follow them. The controller's node cannot be drained.
   * @throws Error naming the proclets that could not move (then the node stays).
   */
  async drain(node: string): Promise<DrainResult> {
    this.#open();
    if (typeof node !== 'string' || node.length === 0) throw new TypeError('drain: node must be a node id');
    return (await this.#rt.invoke(CONTROLLER_ID, 'drain', [node])) as DrainResult;
  }

  /** Ids of the nodes in the cluster, lost ones excluded. */
  async nodes(): Promise<string[]> {
    this.#open();
    const recs = (await this.#rt.invoke(CONTROLLER_ID, 'nodes', [])) as Array<{ id: string; lost: string | null }>;
    return recs.filter((n) => n.lost === null).map((n) => n.id);
  }

  /** Publishes an event to every subscriber (used by structures for split/merge events). */
  publish(topic: string, payload: unknown): void {
    this.#rt.invoke(CONTROLLER_ID, 'publish', [topic, payload]).catch(() => undefined);
  }

  /**
   * Subscribes to a cluster event. Events go only to the processes that listen (a
   * listener subscribes its process with the controller, ahead of any later call), so
   * an event caused by a call made after `on` returns is heard, and one the controller
   * sent before may not be. Membership events (`nodeJoined`, `nodeLost`) reach every
   * process.
   */
  on<E extends keyof ClusterEvents & string>(event: E, listener: (payload: ClusterEvents[E]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Unsubscribes a listener. */
  off<E extends keyof ClusterEvents & string>(event: E, listener: (payload: ClusterEvents[E]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  /** Subscribes for one event. */
  once<E extends keyof ClusterEvents & string>(event: E, listener: (payload: ClusterEvents[E]) => void): this {
    this.#events.once(event, listener);
    return this;
  }

  /**
   * Shuts the cluster down: every node stops, pending calls reject with ClosedError,
   * worker threads end. Views from inside a proclet cannot close the cluster. A view from
   * `connect` (in `@quicksand/net`) only disconnects its client: the nodes keep running.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#closer === null) throw new InvalidArgumentError('this cluster view belongs to a proclet; close the cluster from the handle that started it');
    this.#closed = true;
    await this.#closer();
  }

  #open(): void {
    if (this.#closed || this.#rt.closed) throw new ClosedError(`the cluster is closed (view from ${this.#rt.id})`);
  }

  /** @internal */
  get runtime(): Runtime {
    return this.#rt;
  }
}

function nearId(x: Ref | RemotePtr<unknown> | string): string {
  if (typeof x === 'string') return x;
  if (x instanceof Ref) return x.id;
  if (x instanceof RemotePtr) return x.ref.id;
  throw new TypeError('expected a Ref, a RemotePtr or an id string');
}

/** @internal Installs the agent proclet of a node runtime. */
export function attachAgent(rt: Runtime): void {
  rt.hostSystem(agentId(rt.id), NodeAgentType as never, new NodeAgent(rt));
}

/** @internal Installs the controller on a runtime and wires peer loss to it. */
export function attachController(rt: Runtime): Controller {
  const controller = new Controller(rt);
  rt.hostSystem(CONTROLLER_ID, ControllerType as never, controller);
  rt.onPeerLost = (peer, reason) => controller.nodeLost(peer, reason);
  rt.onClose(() => controller._stop());
  return controller;
}

interface InProcessState {
  network: InProcessNetwork;
  runtimes: Runtime[];
}
const inProcess = new WeakMap<Cluster, InProcessState>();

/**
 * @internal A view of an in-process cluster from another node (for tests and simulations).
 * @throws InvalidArgumentError when the cluster is not in-process or the node is unknown.
 */
export function viewFrom(cluster: Cluster, node: string): Cluster {
  const st = inProcess.get(cluster);
  const rt = st?.runtimes.find((r) => r.id === node);
  if (rt === undefined) throw new InvalidArgumentError(`viewFrom: ${st === undefined ? 'not an in-process cluster' : `no node '${node}'`}`);
  return rt.facade;
}

/** @internal Emulates a crash of an in-process node. */
export async function killInProcessNode(cluster: Cluster, node: string): Promise<void> {
  const st = inProcess.get(cluster);
  const rt = st?.runtimes.find((r) => r.id === node);
  if (st === undefined || rt === undefined) throw new InvalidArgumentError(`killInProcessNode: no node '${node}'`);
  st.network.kill(node, 'killed by test');
  await rt.close();
}
