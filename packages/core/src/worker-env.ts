/**
 * What a compute worker thread knows about its place in its node's worker pool: its slot
 * index and the node's CPU capacity, shared with the main thread (`capacity.ts`). When the
 * capacity in effect drops to or below this worker's index (another tenant took the CPU),
 * long-running work such as a range task stops between two elements and hands the rest
 * back; a scheduled drop takes effect at its instant, on this thread's clock.
 *
 * @internal
 */
import type { SharedCapacity } from './capacity.js';

/** Set once by the worker's main module. */
export const workerSlot: { capacity: SharedCapacity | undefined; index: number } = { capacity: undefined, index: 0 };

/** True when this worker's CPU has been taken away (capacity in effect at or below its index). */
export function cpuTaken(): boolean {
  const c = workerSlot.capacity;
  return c !== undefined && c.at() <= workerSlot.index;
}
