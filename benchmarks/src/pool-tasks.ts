/**
 * Task functions of the pool benchmark. Piscina and `@quicksand/pool` load the same
 * compiled module, so both run exactly the same code on their worker threads.
 */

/** A trivial task: one addition. */
export function inc(x: number): number {
  return x + 1;
}

/** A cheap per-element function for the map comparison. */
export function cheap(x: number): number {
  return x * 2 + 1;
}

/** Fixed CPU work: `iterations` rounds of an integer mix (no timers, no allocation). */
export function burn(iterations: number): number {
  let x = iterations | 0;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) | 0;
  return x;
}
