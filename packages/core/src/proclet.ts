/**
 * Proclet types: a class registered under a stable name, with its kind, how its state is
 * saved and restored for migration, and a method table built once at registration.
 *
 * Semantics: a method is callable through a `Ref` when it is a function on the class's
 * prototype chain whose name does not start with `_` and is not `constructor`. Fields,
 * getters, symbols and `_private` methods are never callable from outside.
 *
 * Atomic methods: a plain (non-async) method that returns a non-promise value, and an
 * `async` method whose source contains no `await`, run to completion when called, so a
 * migration can never observe them half done and the runtime does not track them. Every
 * other method is tracked from call to settlement, and a migration waits for tracked
 * calls to finish. An `async` method that returns another promise which keeps working on
 * the proclet must write `return await`, which marks it as suspending.
 */
import { InvalidArgumentError } from './errors.js';
import type { Cluster } from './cluster.js';
import type { Ref } from './ref.js';
import type { TaskSpec, RunTaskOptions } from './workers.js';

/** What a proclet mainly consumes: memory (data on the main thread) or CPU (tasks on workers). */
export type ProcletKind = 'memory' | 'compute';

/** @internal How the runtime invokes one method; decided once, at registration. */
export const MethodMode = {
  /** Runs to completion synchronously and returns a promise of its own (async, no await). */
  AtomicAsync: 0,
  /** A plain function; its result may be a value or a promise. */
  Sync: 1,
  /** May suspend; tracked until it settles. */
  Suspending: 2,
} as const;
/** @internal */
export type MethodMode = (typeof MethodMode)[keyof typeof MethodMode];

/** @internal One entry of a type's method table. */
export interface MethodInfo {
  readonly fn: (...args: unknown[]) => unknown;
  readonly mode: MethodMode;
}

/** Options of {@link defineProclet}. */
export interface ProcletTypeOptions<T extends object, S = unknown> {
  /**
   * What the proclet mainly consumes.
   * @defaultValue `'memory'`
   */
  kind?: ProcletKind;
  /**
   * URL of the module that defines (registers) this type, usually `import.meta.url`.
   * A node that must host the type and has not loaded it imports this module first;
   * without it, only processes that already imported the definition can host the type.
   */
  module?: string | URL;
  /**
   * Returns the state to move on migration; it must be plain data that the codec carries.
   * @defaultValue the instance's own enumerable fields
   */
  save?: (instance: T) => S;
  /**
   * Rebuilds an instance from saved state on the target node.
   * @defaultValue `Object.assign(Object.create(prototype), state)`
   */
  restore?: (state: S) => T;
  /** Never migrate this proclet (system proclets). @defaultValue false */
  pinned?: boolean;
  /**
   * The large typed arrays of this proclet's saved state are its own: no caller keeps
   * them or views of them (local calls pass results by reference, so a method that
   * returns such an array, or a view of it, breaks this). Migration then moves them as a
   * `postMessage` transfer list does: once the target holds the state, the source
   * detaches them (32 KiB or more, each spanning a whole `ArrayBuffer`) and their memory
   * is free at once, for the next proclet that arrives, instead of at some later garbage
   * collection. Worth it for proclets with megabytes of state that move often.
   * @defaultValue false
   */
  transferState?: boolean;
}

/**
 * A registered proclet type. `T` is the instance type, `A` the constructor's arguments.
 * Created by {@link defineProclet}; pass it to `cluster.create`.
 */
export interface ProcletType<T extends object = object, A extends unknown[] = unknown[]> {
  /** The registered name, unique in the process. */
  readonly name: string;
  /** What the proclet mainly consumes. */
  readonly kind: ProcletKind;
  /** URL of the defining module, when known. */
  readonly module: string | undefined;
  /** @internal */
  readonly ctor: new (...args: A) => T;
  /** @internal */
  readonly methods: Readonly<Record<string, MethodInfo>>;
  /** @internal */
  readonly pinned: boolean;
  /** @internal */
  readonly transferState: boolean;
  /** @internal */
  save(instance: T): unknown;
  /** @internal */
  restore(state: unknown): T;
}

const registry = new Map<string, ProcletType<object, unknown[]>>();

const AsyncFunction = (async () => {}).constructor;
const GeneratorFunction = function* () {}.constructor;
const AsyncGeneratorFunction = async function* () {}.constructor;

function methodMode(fn: (...args: unknown[]) => unknown): MethodMode {
  if (fn instanceof AsyncFunction) {
    // An async function without `await` cannot suspend: its body runs to completion
    // inside the call. Comments that say "await" only make us (safely) track it.
    return /\bawait\b/.test(Function.prototype.toString.call(fn)) ? MethodMode.Suspending : MethodMode.AtomicAsync;
  }
  return MethodMode.Sync;
}

function buildMethodTable(ctor: abstract new (...args: never[]) => object): Record<string, MethodInfo> {
  const table: Record<string, MethodInfo> = Object.create(null) as Record<string, MethodInfo>;
  for (let proto = ctor.prototype as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor' || key.startsWith('_') || key in table) continue;
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      const fn: unknown = desc?.value;
      if (typeof fn !== 'function') continue;
      if (fn instanceof GeneratorFunction || fn instanceof AsyncGeneratorFunction) continue;
      const f = fn as (...args: unknown[]) => unknown;
      table[key] = { fn: f, mode: methodMode(f) };
    }
  }
  return table;
}

/**
 * Registers a class as a proclet type under a stable name.
 *
 * Register at module top level, in a module every node can import (pass
 * `module: import.meta.url`), so a node asked to host the type can load it.
 *
 * @example
 * ```ts
 * class Counter { n = 0; add(by: number) { this.n += by; return this.n; } }
 * export const CounterType = defineProclet('example.Counter', Counter, { module: import.meta.url });
 * const ref = await cluster.create(CounterType, []);
 * await ref.call('add', 2); // 2
 * ```
 * @throws InvalidArgumentError when the name is taken by another class.
 */
export function defineProclet<C extends new (...args: never[]) => object, S = unknown>(
  name: string,
  ctor: C,
  options: ProcletTypeOptions<InstanceType<C>, S> = {},
): ProcletType<InstanceType<C>, ConstructorParameters<C>> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`defineProclet: name must be a non-empty string, got ${String(name)}`);
  if (typeof ctor !== 'function') throw new TypeError(`defineProclet('${name}'): ctor must be a class`);
  const existing = registry.get(name);
  if (existing !== undefined) {
    if (existing.ctor === (ctor as unknown)) return existing as unknown as ProcletType<InstanceType<C>, ConstructorParameters<C>>;
    throw new InvalidArgumentError(`proclet type '${name}' is already registered by another class; pick a unique name (prefix it with your package name)`);
  }
  const kind = options.kind ?? 'memory';
  if (kind !== 'memory' && kind !== 'compute') throw new RangeError(`options.kind must be 'memory' or 'compute', got '${String(kind)}'`);
  const proto = ctor.prototype as object;
  const save = options.save ?? ((instance: InstanceType<C>) => ({ ...instance }));
  const restore = options.restore ?? ((state: S) => Object.assign(Object.create(proto) as object, state) as InstanceType<C>);
  const type: ProcletType<InstanceType<C>, ConstructorParameters<C>> = {
    name,
    kind,
    module: options.module === undefined ? undefined : String(options.module),
    ctor: ctor as unknown as new (...args: ConstructorParameters<C>) => InstanceType<C>,
    methods: buildMethodTable(ctor),
    pinned: options.pinned ?? false,
    transferState: options.transferState ?? false,
    save: save,
    restore: restore,
  };
  registry.set(name, type as unknown as ProcletType<object, unknown[]>);
  return type;
}

/** @internal Looks a type up by name, importing its module first when needed. */
export async function resolveType(name: string, module: string | undefined): Promise<ProcletType<object, unknown[]> | undefined> {
  const found = registry.get(name);
  if (found !== undefined || module === undefined) return found;
  await import(module);
  return registry.get(name);
}

/** @internal */
export function lookupType(name: string): ProcletType<object, unknown[]> | undefined {
  return registry.get(name);
}

/** What a proclet can see of its surroundings. Get it with {@link contextOf}. */
export interface ProcletContext {
  /** The proclet's id. */
  readonly id: string;
  /** The node the proclet is on now (a new context is made after each migration). */
  readonly node: string;
  /** The cluster, as seen from this node: refs made here call locally when they can. */
  readonly cluster: Cluster;
  /** A ref to this proclet. */
  self<T extends object>(): Ref<T>;
  /**
   * Reports the bytes this proclet holds, for memory accounting and placement.
   * @param bytes - current size in bytes
   */
  setSize(bytes: number): void;
  /** The bytes last reported with {@link ProcletContext.setSize}. */
  readonly size: number;
  /** This node's memory budget and the bytes its proclets hold now. */
  memory(): { budget: number; used: number };
  /**
   * Runs a task on one of this node's worker threads and resolves with its result.
   * @throws TaskError when the task throws; CapacityError when the node has no CPUs.
   */
  runTask<R = unknown>(task: TaskSpec, input?: unknown, options?: RunTaskOptions): Promise<R>;
}

/** @internal */
export const CONTEXT = Symbol('quicksand.context');

/**
 * The context of a proclet instance: its id, node, cluster view and accounting.
 * @throws InvalidArgumentError when `instance` is not a live proclet.
 */
export function contextOf(instance: object): ProcletContext {
  const ctx = (instance as { [CONTEXT]?: ProcletContext })[CONTEXT];
  if (ctx === undefined) throw new InvalidArgumentError('contextOf: this object is not a live proclet (contexts are attached after construction; use them in methods, not in the constructor)');
  return ctx;
}
