/**
 * The key hash of the hash-partitioned structures: a fast, non-cryptographic 32-bit hash
 * of a string or number key, identical on every node and process (it depends only on the
 * key), computed once per operation by the client and carried to the shard.
 *
 * Strings: 32-bit multiply-rotate over UTF-16 code units (two per round), then the
 * murmur3 finalizer so the high bits, which pick the shard, are well mixed. Numbers: a
 * small integer is mixed directly; any other number through its IEEE-754 bits. Keys equal
 * under `Map` semantics (SameValueZero: `0` and `-0`, every `NaN`) hash equal; the number
 * `1` and the string `'1'` are different keys and hash differently.
 */

/** Size of the hash key space: hashes are integers in `[0, HASH_SPACE)`. */
export const HASH_SPACE = 2 ** 32;

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashString(s: string): number {
  let h = 0x9747b28c ^ s.length;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  return fmix32(h);
}

function hashNumber(x: number): number {
  if ((x | 0) === x) return fmix32(Math.imul(x, 0x9e3779b1) ^ 0x5bd1e995);
  if (x !== x) return 0x7ff80000; // every NaN is one key
  F64[0] = x;
  return fmix32(Math.imul(U32[0]!, 0x9e3779b1) ^ fmix32(U32[1]! ^ 0x27d4eb2f));
}

/**
 * The 32-bit hash of a key, an integer in `[0, 2^32)`.
 * @throws TypeError when `key` is neither a string nor a number.
 * @example
 * ```ts
 * hashKey('user:42'); // same value on every node
 * ```
 */
export function hashKey(key: string | number): number {
  if (typeof key === 'number') return hashNumber(key === 0 ? 0 : key);
  if (typeof key === 'string') return hashString(key);
  throw new TypeError(`keys must be strings or numbers, got ${key === null ? 'null' : typeof key}`);
}
