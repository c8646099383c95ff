/**
 * Proclet types of the benchmarks. Node processes import this module to host them, so it
 * must have no top-level side effects (no cluster, no work).
 */
import { defineProclet } from '@quicksand/core';

/** A counter whose `inc` is a trivial async method (atomic: no await). */
export class Counter {
  n = 0;
  async inc(x: number): Promise<number> {
    this.n += x;
    return this.n;
  }
  add(x: number): number {
    this.n += x;
    return this.n;
  }
  async incAfterAwait(x: number): Promise<number> {
    await Promise.resolve();
    this.n += x;
    return this.n;
  }
}
export const CounterType = defineProclet('bench.Counter', Counter, { module: import.meta.url });

/** A proclet holding `bytes` of state. */
export class Blob {
  data: Uint8Array;
  constructor(bytes: number) {
    this.data = new Uint8Array(bytes).fill(7);
  }
  length(): number {
    return this.data.byteLength;
  }
}
export const BlobType = defineProclet('bench.Blob', Blob, { module: import.meta.url });

/** A Blob whose type declares its state its own (`transferState`): the source frees it at once. */
export class OwnedBlob extends Blob {}
export const OwnedBlobType = defineProclet('bench.OwnedBlob', OwnedBlob, { module: import.meta.url, transferState: true });
