/**
 * Option validation and size parsing shared by every package. Bad options throw at the
 * call, naming the option: `options.cpus must be a positive integer, got -1`.
 */

/** A size in bytes, as a number or a string such as `'512MiB'`, `'1GiB'`, `'64KiB'`, `'1.5GB'`. */
export type Size = number | string;

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/**
 * Parses a {@link Size} into bytes.
 *
 * @param value - bytes, or a string with a unit (B, KB, MB, GB, KiB, MiB, GiB, TiB; K/M/G mean KiB/MiB/GiB).
 * @param name - the option's name, for the error message.
 * @throws RangeError when the value is not a non-negative finite size.
 */
export function parseSize(value: Size, name = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number of bytes, got ${value}`);
    return Math.floor(value);
  }
  if (typeof value !== 'string') throw new TypeError(`${name} must be a number of bytes or a string such as '512MiB', got ${typeof value}`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m?.[2] === undefined || m[2] === '' ? 'b' : m[2].toLowerCase();
  const mult = UNITS[unit];
  if (m === null || mult === undefined) throw new RangeError(`${name} must be a size such as '512MiB' or '1GiB', got '${value}'`);
  return Math.floor(Number(m[1]) * mult);
}

/** Formats bytes for messages: `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Throws a TypeError naming the option unless `value` is a positive (or non-negative) integer. */
export function checkInt(value: unknown, name: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer${min === 1 ? ' >= 1' : ` >= ${min}`}, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Throws unless `value` is a finite number in [min, max]. */
export function checkNumber(value: unknown, name: string, min = 0, max = Number.MAX_VALUE): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number, got ${describe(value)}`);
  if (value < min || value > max) throw new RangeError(`${name} must be in [${min}, ${max}], got ${value}`);
  return value;
}

/** Throws unless `value` is a non-empty string. */
export function checkString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${name} must be a non-empty string, got ${describe(value)}`);
  return value;
}

/** Throws unless `value` is undefined or a plain object; returns it (or `{}`). */
export function checkOptions<T extends object>(value: T | undefined, name = 'options'): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  }
  return value;
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  return `${value as number | boolean | bigint | undefined}`;
}
