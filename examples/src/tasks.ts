/**
 * Tasks of the experiments; they run on worker threads. No top-level side effects.
 */
import { wallNow } from './common.js';

/** Integer arithmetic whose result depends on every round: 40,000 rounds take about 50 µs here. */
function spin(seed: number, rounds: number): number {
  let x = seed | 0;
  for (let i = 0; i < rounds; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}

/**
 * A fixed amount of CPU work (about 50 µs). Returns the process that ran it (which node),
 * when it finished (the clock is shared by every process on a machine), and the loop's
 * result (so the loop cannot be optimised away).
 */
export function burn(seed: number): [pid: number, doneAtMs: number, check: number] {
  const x = spin(seed, 40_000);
  return [process.pid, wallNow(), x];
}

/**
 * Rounds of `spin` that take 50 µs on the calling thread: the fastest of several timed
 * runs, since a shared machine's noise only ever slows a run down. 40,000 on the 2-core
 * VM these experiments were first tuned on; a faster CPU runs more.
 */
export function roundsPerUnit(): number {
  const rounds = 400_000;
  for (let k = 0; k < 5; k++) spin(k, rounds);
  let best = Infinity;
  for (let k = 0; k < 30; k++) {
    const t = performance.now();
    spin(k, rounds);
    best = Math.min(best, performance.now() - t);
  }
  return Math.round((rounds * 0.05) / best);
}

/**
 * A stand-in for one element of a preprocessing stage: `units` x `unitRounds` rounds of
 * CPU work, about `units` x 50 µs where `unitRounds` comes from {@link roundsPerUnit}.
 * Returns a small sample (the "tensor" a trainer would consume).
 */
export function prep(input: { seed: number; units: number; unitRounds?: number }): Float32Array {
  const out = new Float32Array(8);
  out[0] = spin(input.seed, (input.unitRounds ?? 40_000) * input.units);
  return out;
}
