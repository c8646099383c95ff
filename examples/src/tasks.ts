/**
 * Tasks of the experiments; they run on worker threads. No top-level side effects.
 */

/**
 * A fixed amount of CPU work (integer arithmetic, about 50 µs here). Returns the process
 * that ran it (which node), when it finished (the clock is shared by every process on a
 * machine), and the loop's result (so the loop cannot be optimised away).
 */
export function burn(seed: number): [pid: number, doneAtMs: number, check: number] {
  let x = seed | 0;
  for (let i = 0; i < 40_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return [process.pid, performance.timeOrigin + performance.now(), x];
}

/**
 * A stand-in for one element of a preprocessing stage: about `units` x 50 µs of CPU work.
 * Returns a small sample (the "tensor" a trainer would consume).
 */
export function prep(input: { seed: number; units: number }): Float32Array {
  let x = input.seed | 0;
  for (let i = 0; i < 40_000 * input.units; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  const out = new Float32Array(8);
  out[0] = x;
  return out;
}
