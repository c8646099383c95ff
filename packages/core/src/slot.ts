/**
 * A slot holds one proclet on its node: the instance, its lifecycle state, its in-flight
 * tracked calls, and the calls that queued while it migrates.
 *
 * Invariants: a call runs on the instance only while the slot is ACTIVE; once a slot is
 * MIGRATING no call starts on it (new calls queue); a slot is GONE for good.
 */
import { NoSuchMethodError } from './errors.js';
import { MethodMode } from './proclet.js';
import type { MethodInfo, ProcletType } from './proclet.js';

/** @internal */
export const ACTIVE = 0;
/** @internal */
export const MIGRATING = 1;
/** @internal */
export const GONE = 2;

/** @internal A call that arrived from another node while the slot was migrating. */
export type QueuedRemote = [from: string, callId: number, method: string, args: unknown[]];

/** @internal */
export class Slot {
  state: number = ACTIVE;
  /** Tracked calls started and not yet settled. */
  inflight = 0;
  /** Bytes held, as last reported (or measured at migration). */
  size = 0;
  sizeReported = false;
  /** Local callers waiting for the migration to end: re-dispatched afterwards. */
  readonly localQueue: Array<() => void> = [];
  readonly remoteQueue: QueuedRemote[] = [];
  readonly methods: Readonly<Record<string, MethodInfo>>;
  #waiter: (() => void) | null = null;
  readonly done: () => void;

  constructor(
    readonly id: string,
    readonly type: ProcletType<object, unknown[]>,
    public instance: object,
    readonly node: string,
  ) {
    this.methods = type.methods;
    this.done = () => {
      if (--this.inflight === 0 && this.#waiter !== null) {
        const w = this.#waiter;
        this.#waiter = null;
        w();
      }
    };
  }

  /** Runs `method` on the instance. Caller has checked `state === ACTIVE`. */
  invoke(method: string, args: unknown[]): Promise<unknown> {
    const info = this.methods[method];
    if (info === undefined) return Promise.reject(this.noSuchMethod(method));
    if (info.mode === MethodMode.AtomicAsync) return info.fn.apply(this.instance, args) as Promise<unknown>;
    let r: unknown;
    this.inflight++;
    try {
      r = info.fn.apply(this.instance, args);
    } catch (e) {
      this.done();
      // User code may throw anything; it is passed on unchanged.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(e);
    }
    if (info.mode === MethodMode.Sync && !isThenable(r)) {
      this.done();
      return Promise.resolve(r);
    }
    const p = Promise.resolve(r);
    p.then(this.done, this.done);
    return p;
  }

  /**
   * Like {@link Slot.invoke}, for a remote caller: a plain method's value comes back as it
   * is, with no promise (and what it throws is thrown); anything else as a promise.
   */
  invokeRaw(method: string, args: unknown[]): unknown {
    const info = this.methods[method];
    if (info === undefined) throw this.noSuchMethod(method);
    if (info.mode !== MethodMode.Sync) return this.invoke(method, args);
    let r: unknown;
    this.inflight++;
    try {
      r = info.fn.apply(this.instance, args);
    } finally {
      if (!isThenable(r)) this.done();
    }
    if (!isThenable(r)) return r;
    const p = Promise.resolve(r);
    p.then(this.done, this.done);
    return p;
  }

  /** Resolves once no tracked call is running. */
  quiesce(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  noSuchMethod(method: string): NoSuchMethodError {
    const known = Object.keys(this.methods).sort().join(', ');
    return new NoSuchMethodError(`proclet ${this.id} (type ${this.type.name}) on node ${this.node} has no method '${method}'; its methods are: ${known}`, {
      data: { proclet: this.id, type: this.type.name, node: this.node, method },
    });
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}
