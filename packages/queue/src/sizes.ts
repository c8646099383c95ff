/**
 * A cheap estimate of the bytes a value holds, for segment size bounds and memory
 * accounting. It walks at most a few levels and samples long arrays; it is an estimate,
 * not a measurement.
 */

const SAMPLE = 16;

/** Estimated bytes of `v`. */
export function approxBytes(v: unknown, depth = 0): number {
  switch (typeof v) {
    case 'number':
      return 8;
    case 'boolean':
      return 4;
    case 'string':
      return 16 + 2 * v.length;
    case 'bigint':
      return 16;
    case 'undefined':
      return 4;
    case 'object':
      break;
    default:
      return 16;
  }
  if (v === null) return 4;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return 32 + v.byteLength;
  if (depth >= 3) return 64;
  if (Array.isArray(v)) return 16 + sampled(v, depth);
  if (v instanceof Map) return 32 + sampled([...v.entries()], depth);
  if (v instanceof Set) return 32 + sampled([...v.values()], depth);
  let n = 32;
  for (const k in v) n += 16 + 2 * k.length + approxBytes((v as Record<string, unknown>)[k], depth + 1);
  return n;
}

/** Sum over an array, estimated from an evenly spaced sample when it is long. */
function sampled(xs: unknown[], depth: number): number {
  if (xs.length <= SAMPLE) {
    let n = 0;
    for (const x of xs) n += approxBytes(x, depth + 1);
    return n;
  }
  const step = xs.length / SAMPLE;
  let n = 0;
  for (let i = 0; i < SAMPLE; i++) n += approxBytes(xs[Math.floor(i * step)], depth + 1);
  return Math.round((n / SAMPLE) * xs.length);
}
