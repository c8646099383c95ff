/**
 * `Ref<T>`: a location-transparent handle to a proclet. A call whose caller shares the
 * proclet's node is a function call plus one promise (no codec, no copy: arguments are
 * passed by reference); otherwise it is an RPC that follows the proclet wherever it moves.
 */
import type { Slot } from './slot.js';
import { ACTIVE } from './slot.js';
import { MethodMode } from './proclet.js';
import type { MethodInfo } from './proclet.js';

/** Names of the callable methods of `T`. */
export type MethodName<T> = {
  [K in keyof T]-?: K extends string ? (T[K] extends (...args: never[]) => unknown ? (K extends `_${string}` ? never : K) : never) : never;
}[keyof T];

/** Parameter list of method `K` of `T`. */
export type MethodArgs<T, K extends keyof T> = T[K] extends (...args: infer A) => unknown ? A : never;

/** Resolved result type of method `K` of `T`. */
export type MethodResult<T, K extends keyof T> = T[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** @internal What a Ref needs from the runtime that made it. */
export interface RefHost {
  /** The node (or client) id of the runtime. */
  readonly id: string;
  /** Routes a call that could not take the local fast path. */
  callSlow(ref: Ref, method: string, args: unknown[]): Promise<unknown>;
}

/**
 * A handle to a proclet that works from any node. Refs are cheap; make them with
 * `cluster.ref(id)` or get them from `cluster.create`. A Ref crosses the wire as its id
 * (`{ id }`); turn it back into a Ref with `cluster.ref(value)`.
 *
 * @example
 * ```ts
 * const counter = await cluster.create(CounterType, []);
 * const n = await counter.call('add', 5); // typed: add(by: number) => number
 * ```
 */
export class Ref<T extends object = object> {
  /** The proclet's cluster-wide id. */
  readonly id: string;
  readonly #host: RefHost;
  #slot: Slot | null = null;
  #method = '';
  #info: MethodInfo | undefined = undefined;
  #place: object | undefined = undefined;
  #epoch = -1;

  /** @internal */
  constructor(host: RefHost, id: string) {
    this.#host = host;
    this.id = id;
  }

  /**
   * Calls `method` on the proclet, wherever it is, and resolves with its result.
   * Errors thrown by the method reject with the same class and code, naming the node.
   * @throws NodeLostError when the proclet's node is gone; ProcletNotFoundError when
   * the proclet does not exist; NoSuchMethodError for an unknown method.
   */
  call<K extends MethodName<T>>(method: K, ...args: MethodArgs<T, K>): Promise<MethodResult<T, K>> {
    // Kept small (the local slow cases apart): the optimizing compiler inlines a caller's
    // whole chain of calls only within a budget of bytecode, and a remote call's is long.
    const slot = this.#slot;
    if (slot !== null && slot.state === ACTIVE) {
      // Fast path: an atomic method on a proclet of this node, the one this ref called
      // last, is a plain function call (method names are interned constants at call sites).
      const info = this.#info;
      if (this.#method === method && info !== undefined && info.mode === MethodMode.AtomicAsync) return info.fn.apply(slot.instance, args) as Promise<MethodResult<T, K>>;
      return this.#callHere(slot, method, args) as Promise<MethodResult<T, K>>;
    }
    return this.#host.callSlow(this, method, args) as Promise<MethodResult<T, K>>;
  }

  /** A call to a proclet of this node, other than the fast path of {@link call}. */
  #callHere(slot: Slot, method: string, args: unknown[]): Promise<unknown> {
    // One-entry cache per ref.
    let info = this.#info;
    if (this.#method !== method || info === undefined) {
      info = slot.methods[method];
      this.#method = method;
      this.#info = info;
    }
    if (info !== undefined && info.mode === MethodMode.AtomicAsync) return info.fn.apply(slot.instance, args) as Promise<unknown>;
    return slot.invoke(method, args);
  }

  /** The id of the runtime this Ref calls from. */
  get caller(): string {
    return this.#host.id;
  }

  /** The wire form: `{ id }`. */
  toJSON(): { id: string } {
    return { id: this.id };
  }

  /** @internal What the host last cached for this ref's remote calls, while `epoch` is still the host's. */
  static placed(ref: Ref, epoch: number): object | undefined {
    return ref.#epoch === epoch ? ref.#place : undefined;
  }

  /** @internal Caches what the host needs for this ref's next remote call, valid while its `epoch` stands. */
  static place(ref: Ref, place: object, epoch: number): void {
    ref.#place = place;
    ref.#epoch = epoch;
  }

  /** @internal Binds the ref to a local slot for the fast path (or unbinds with null). */
  static attach(ref: Ref, slot: Slot | null): void {
    ref.#slot = slot;
    ref.#info = undefined;
  }
}
