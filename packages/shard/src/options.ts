/**
 * Options shared by the sharded structures, their defaults, and how the default shard
 * bound follows from a target migration time.
 *
 * A shard is the unit that migrates, so its size bounds how long its data is blocked when
 * it moves. The default bound is `targetMigrationMs × MIGRATION_BYTES_PER_MS`: at the
 * measured rate of about 512 KiB per millisecond (the kernel benchmark moves 1 MiB between
 * in-process nodes in about 1.4 ms, and raw TCP moves 1 MiB between processes in about
 * 2.5 ms) and a 1 ms target, shards split past 512 KiB.
 */
import { checkInt, checkNumber, checkOptions } from '@quicksand/core/internal';
import { parseSize } from '@quicksand/core';
import type { Size } from '@quicksand/core';

/** Measured bytes moved per millisecond of migration, used to derive the default shard bound. */
export const MIGRATION_BYTES_PER_MS = 512 * 1024;
/** Default target time to migrate one shard, in milliseconds. */
export const DEFAULT_TARGET_MIGRATION_MS = 1;
/** Smallest accepted `maxShardBytes`. */
export const MIN_SHARD_BYTES = 1024;

/** How a structure cuts its data into shards. Fixed when the structure is created. */
export interface ShardingOptions {
  /**
   * A shard splits once it holds more than this many bytes (accounted with
   * `estimateBytes` from `@quicksand/shard`).
   * @defaultValue `targetMigrationMs × 512 KiB`, i.e. 512 KiB
   */
  maxShardBytes?: Size;
  /**
   * The longest a shard's migration should block its calls, in milliseconds; sets the
   * default `maxShardBytes`. Ignored when `maxShardBytes` is given.
   * @defaultValue 1
   */
  targetMigrationMs?: number;
  /**
   * A shard that falls below this many bytes is merged with its smaller neighbour when the
   * two together hold at most half of `maxShardBytes` (so the result does not split again).
   * @defaultValue `maxShardBytes / 4`
   */
  lowWaterBytes?: Size;
  /** Split shards automatically when they pass `maxShardBytes`. @defaultValue true */
  autoSplit?: boolean;
  /** Merge small neighbours automatically. @defaultValue true */
  autoMerge?: boolean;
}

/** @internal The resolved sharding configuration every shard and the index carry. */
export interface ShardConfig {
  /** Name of the structure, for messages and events. */
  name: string;
  /** `'vector'`, `'map'`, `'set'`... */
  kind: string;
  /** End of the key space (exclusive): `2^32` for hashes, `END` for indices. */
  space: number;
  maxShardBytes: number;
  lowWaterBytes: number;
  autoSplit: boolean;
  autoMerge: boolean;
}

/** @internal Validates sharding options and fills in the defaults. */
export function resolveSharding(name: string, kind: string, space: number, options: ShardingOptions | undefined, at = 'options'): ShardConfig {
  const o = checkOptions(options, at);
  let max: number;
  if (o.maxShardBytes !== undefined) {
    max = parseSize(o.maxShardBytes, `${at}.maxShardBytes`);
  } else {
    const ms = o.targetMigrationMs === undefined ? DEFAULT_TARGET_MIGRATION_MS : checkNumber(o.targetMigrationMs, `${at}.targetMigrationMs`, 0.001, 60_000);
    max = Math.round(ms * MIGRATION_BYTES_PER_MS);
  }
  if (max < MIN_SHARD_BYTES) throw new RangeError(`${at}.maxShardBytes must be at least ${MIN_SHARD_BYTES} bytes, got ${max}`);
  const low = o.lowWaterBytes === undefined ? Math.floor(max / 4) : parseSize(o.lowWaterBytes, `${at}.lowWaterBytes`);
  if (low >= max / 2) throw new RangeError(`${at}.lowWaterBytes must be below half of maxShardBytes (${Math.floor(max / 2)}), got ${low}`);
  for (const k of ['autoSplit', 'autoMerge'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`${at}.${k} must be a boolean, got ${typeof o[k]}`);
  }
  return { name, kind, space, maxShardBytes: max, lowWaterBytes: low, autoSplit: o.autoSplit ?? true, autoMerge: o.autoMerge ?? true };
}

/** Client-side batching of bulk writes. */
export interface BatchOptions {
  /**
   * Bytes of elements buffered per shard before a batch is sent.
   * @defaultValue 16 KiB
   */
  batchBytes?: Size;
  /**
   * Batches in flight per shard at once; further writes wait (backpressure).
   * @defaultValue 8
   */
  inFlightPerShard?: number;
}

/** @internal */
export interface ResolvedBatch {
  batchBytes: number;
  inFlightPerShard: number;
}

/** @internal */
export const DEFAULT_BATCH: Readonly<ResolvedBatch> = Object.freeze({ batchBytes: 16 * 1024, inFlightPerShard: 8 });

/** @internal */
export function resolveBatch(options: BatchOptions | undefined, at = 'options'): ResolvedBatch {
  const o = checkOptions(options, at);
  if (o.batchBytes === undefined && o.inFlightPerShard === undefined) return DEFAULT_BATCH;
  const batchBytes = o.batchBytes === undefined ? DEFAULT_BATCH.batchBytes : parseSize(o.batchBytes, `${at}.batchBytes`);
  if (batchBytes < 1) throw new RangeError(`${at}.batchBytes must be at least 1 byte, got ${batchBytes}`);
  const inFlightPerShard = o.inFlightPerShard === undefined ? DEFAULT_BATCH.inFlightPerShard : checkInt(o.inFlightPerShard, `${at}.inFlightPerShard`, 1, 1024);
  return { batchBytes, inFlightPerShard };
}

/**
 * How an iterator prefetches: blocks of elements sized in bytes, starting small (so the
 * first element arrives fast) and doubling up to `blockBytes`, with at most `window`
 * blocks requested or buffered ahead of the consumer.
 */
export interface PrefetchOptions {
  /** Size of the first block. @defaultValue 4 KiB */
  initialBlockBytes?: Size;
  /** Largest block. @defaultValue 64 KiB */
  blockBytes?: Size;
  /** Blocks in flight or buffered ahead of the consumer. @defaultValue 4 */
  window?: number;
}

/** @internal */
export interface ResolvedPrefetch {
  initialBlockBytes: number;
  blockBytes: number;
  window: number;
}

/** @internal */
export const DEFAULT_PREFETCH: Readonly<ResolvedPrefetch> = Object.freeze({ initialBlockBytes: 4 * 1024, blockBytes: 64 * 1024, window: 4 });

/** @internal */
export function resolvePrefetch(options: PrefetchOptions | undefined, at = 'options'): ResolvedPrefetch {
  const o = checkOptions(options, at);
  if (o.initialBlockBytes === undefined && o.blockBytes === undefined && o.window === undefined) return DEFAULT_PREFETCH;
  const blockBytes = o.blockBytes === undefined ? DEFAULT_PREFETCH.blockBytes : parseSize(o.blockBytes, `${at}.blockBytes`);
  const initial = o.initialBlockBytes === undefined ? Math.min(DEFAULT_PREFETCH.initialBlockBytes, blockBytes) : parseSize(o.initialBlockBytes, `${at}.initialBlockBytes`);
  if (blockBytes < 1) throw new RangeError(`${at}.blockBytes must be at least 1 byte, got ${blockBytes}`);
  if (initial < 1 || initial > blockBytes) throw new RangeError(`${at}.initialBlockBytes must be in [1, blockBytes=${blockBytes}], got ${initial}`);
  const window = o.window === undefined ? DEFAULT_PREFETCH.window : checkInt(o.window, `${at}.window`, 1, 1024);
  return { initialBlockBytes: initial, blockBytes, window };
}
