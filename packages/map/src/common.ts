/** Pieces shared by ShardedMap and ShardedSet. */
import { StaleRouteError } from '@quicksand/core';
import type { Cluster, Ref } from '@quicksand/core';
import { BlockIterator, HASH_SPACE, MAX_ATTEMPTS, createStructure, openStructure, resolveSharding } from '@quicksand/shard/internal';
import type { ResolvedPrefetch, ShardClient, ShardType } from '@quicksand/shard/internal';
import type { ShardingOptions } from '@quicksand/shard';
import type { HashShard } from './hash-shard.js';

/** Options of `ShardedMap.create` and `ShardedSet.create`. */
export interface HashStructureOptions extends ShardingOptions {
  /** Node of the first shard and the index; later shards go where memory is free. */
  node?: string;
}

/** @internal */
export async function createHash(cluster: Cluster, name: string, kind: string, type: ShardType, options?: HashStructureOptions): Promise<ShardClient> {
  const cfg = resolveSharding(name, kind, HASH_SPACE, options);
  const node = options?.node;
  if (node !== undefined && typeof node !== 'string') throw new TypeError(`options.node must be a node id, got ${typeof node}`);
  return createStructure(cluster, cfg, type, node === undefined ? {} : { node });
}

/** @internal */
export function openHash(cluster: Cluster, name: string, kind: string): Promise<ShardClient> {
  return openStructure(cluster, name, kind);
}

/** @internal An iterator over the whole hash space in `mode` (0 entries, 1 keys, 2 values). */
export function scanAll<T>(client: ShardClient, mode: number, prefetch: ResolvedPrefetch): BlockIterator<T> {
  return new BlockIterator<T>(
    client,
    (ref, from, to, maxBytes) => (ref as Ref<HashShard<unknown>>).call('scan', from, to, maxBytes, mode) as Promise<{ items: T[]; next: number; density: number }>,
    0,
    HASH_SPACE,
    prefetch,
  );
}

/** @internal An async iterable that makes a fresh iterator each time. */
export function iterable<T>(make: () => AsyncIterator<T>): AsyncIterableIterator<T> {
  let it: AsyncIterator<T> | null = null;
  const self: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => self,
    next: () => (it ??= make()).next(),
    return: async () => {
      await it?.return?.();
      return { value: undefined, done: true };
    },
  };
  return self;
}

/** Keys per batch of a `getMany` call to one shard. */
const GET_BATCH = 2048;

/**
 * @internal Reads many keys: groups them per shard, sends the groups in parallel, and
 * re-routes the keys a shard refused after refreshing the routes.
 */
export async function getManyHashed<R>(
  client: ShardClient,
  hs: number[],
  keys: unknown[],
  send: (ref: Ref, hs: number[], keys: unknown[]) => Promise<[R[], number[] | null, number]>,
): Promise<R[]> {
  const out = new Array<R>(keys.length);
  let todo = keys.map((_, i) => i);
  for (let attempt = 0; todo.length > 0; attempt++) {
    const groups = new Map<Ref, number[]>();
    for (const i of todo) {
      const ref = client.route(hs[i]!);
      let g = groups.get(ref);
      if (g === undefined) {
        g = [];
        groups.set(ref, g);
      }
      g.push(i);
    }
    const again: number[] = [];
    let need = 0;
    let failure: { e: unknown; ref: Ref } | null = null;
    const calls: Array<Promise<void>> = [];
    for (const [ref, idx] of groups) {
      for (let at = 0; at < idx.length; at += GET_BATCH) {
        const part = idx.slice(at, at + GET_BATCH);
        calls.push(
          send(
            ref,
            part.map((i) => hs[i]!),
            part.map((i) => keys[i]),
          ).then(
            ([vals, refused, version]) => {
              const skip = refused === null ? null : new Set(refused);
              part.forEach((i, j) => {
                if (skip !== null && skip.has(j)) again.push(i);
                else out[i] = vals[j]!;
              });
              if (refused !== null) need = Math.max(need, version);
            },
            (e: unknown) => {
              failure ??= { e, ref };
              for (const i of part) again.push(i);
            },
          ),
        );
      }
    }
    await Promise.all(calls);
    if (again.length === 0) break;
    const f = failure as { e: unknown; ref: Ref } | null;
    if (f !== null) await client.recover(f.e, f.ref, attempt);
    else if (attempt >= MAX_ATTEMPTS) throw new StaleRouteError(`${client.what}: gave up re-routing reads after ${MAX_ATTEMPTS} attempts`);
    else await client.refresh(need);
    todo = again;
  }
  return out;
}

/** @internal The average of `size` over up to 64 elements spread through `xs`. */
export function sampleBytes<T>(xs: readonly T[], size: (x: T) => number): number {
  if (xs.length === 0) return 0;
  const n = Math.min(64, xs.length);
  let total = 0;
  for (let i = 0; i < n; i++) total += size(xs[Math.floor((i * xs.length) / n)]!);
  return total / n;
}
