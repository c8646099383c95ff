/**
 * What a compute worker thread knows about its place in its node's worker pool: its slot
 * index and the node's CPU capacity, shared with the main thread. When the node's capacity
 * drops to or below this worker's index (another tenant took the CPU), long-running work
 * such as a range task stops between two elements and hands the rest back.
 *
 * @internal
 */

/** Set once by the worker's main module. */
export const workerSlot: { capacity: Int32Array | undefined; index: number } = { capacity: undefined, index: 0 };

/** True when this worker's CPU has been taken away (capacity at or below its index). */
export function cpuTaken(): boolean {
  const c = workerSlot.capacity;
  return c !== undefined && Atomics.load(c, 0) <= workerSlot.index;
}
