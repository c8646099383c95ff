/**
 * Distributed pointers: a value held by a small memory proclet, reachable from any node,
 * that keeps working when the value migrates (the pointer is a Ref underneath).
 */
import { ClosedError } from './errors.js';
import { defineProclet } from './proclet.js';
import type { Ref } from './ref.js';
import type { Cluster } from './cluster.js';

/** @internal The proclet behind a RemotePtr. */
export class PointerCell {
  value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
  get(): unknown {
    return this.value;
  }
  set(value: unknown): void {
    this.value = value;
  }
}

/** @internal */
export const PointerType = defineProclet('quicksand.pointer', PointerCell, { module: import.meta.url });

/**
 * A pointer to a value held somewhere in the cluster. Get one with `cluster.alloc`.
 * Values cross the wire through the codec (plain data).
 */
export class RemotePtr<T> {
  /** The proclet holding the value. */
  readonly ref: Ref;
  readonly #cell: Ref<PointerCell>;
  readonly #cluster: Cluster;
  #freed = false;

  /** @internal */
  constructor(ref: Ref<PointerCell>, cluster: Cluster) {
    this.ref = ref;
    this.#cell = ref;
    this.#cluster = cluster;
  }

  /** Reads the value (a copy when it lives on another node). */
  async get(): Promise<T> {
    this.#live();
    return (await this.#cell.call('get')) as T;
  }

  /** Replaces the value. */
  async set(value: T): Promise<void> {
    this.#live();
    await this.#cell.call('set', value);
  }

  /** Frees the value; later `get`/`set` reject with ClosedError. */
  async free(): Promise<void> {
    if (this.#freed) return;
    this.#freed = true;
    await this.#cluster.destroy(this.ref);
  }

  /** The wire form: `{ id }` of the holding proclet. */
  toJSON(): { id: string } {
    return { id: this.ref.id };
  }

  #live(): void {
    if (this.#freed) throw new ClosedError(`remote pointer ${this.ref.id} was freed`);
  }
}
