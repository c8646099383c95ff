/**
 * Byte accounting of elements. Shards add up what their elements cost so that split
 * bounds and node memory budgets follow real use. The estimate is close to what V8 holds
 * for the value and to what the codec moves on migration; it is not exact, and it is
 * cheap for the common cases (numbers, short strings, typed arrays).
 */

/** Bytes charged per map or set entry on top of its key and value (hash-table slot, entry record). */
export const ENTRY_OVERHEAD = 40;

const MAX_DEPTH = 32;

/**
 * Estimates the bytes a value occupies: 8 per number, 16 plus one per character for a
 * string, the byte length plus a header for typed arrays and buffers, and the sum of the
 * parts plus a header for arrays, plain objects, `Map` and `Set`.
 * @example
 * ```ts
 * estimateBytes({ id: 7, name: 'ada' }); // 81
 * ```
 */
export function estimateBytes(value: unknown): number {
  return sizeOf(value, 0);
}

function sizeOf(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'number':
      return 8;
    case 'string':
      return 16 + v.length;
    case 'boolean':
    case 'undefined':
      return 4;
    case 'bigint':
      return 16 + (v.toString(16).length >> 1);
    case 'object':
      break;
    default:
      return 16;
  }
  if (v === null) return 4;
  if (depth >= MAX_DEPTH) return 16;
  if (ArrayBuffer.isView(v)) return 64 + v.byteLength;
  if (v instanceof ArrayBuffer) return 48 + v.byteLength;
  if (Array.isArray(v)) {
    let n = 16 + 8 * v.length;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x !== 'number') n += sizeOf(x, depth + 1);
    }
    return n;
  }
  if (v instanceof Map) {
    let n = 32;
    for (const [k, x] of v) n += 16 + sizeOf(k, depth + 1) + sizeOf(x, depth + 1);
    return n;
  }
  if (v instanceof Set) {
    let n = 32;
    for (const x of v) n += 16 + sizeOf(x, depth + 1);
    return n;
  }
  if (v instanceof Date) return 24;
  let n = 32;
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    n += 8 + k.length + sizeOf((v as Record<string, unknown>)[k], depth + 1);
  }
  return n;
}
