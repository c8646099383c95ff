/** Test helpers: waiting on conditions (never on sleeps), a seeded PRNG, and a cluster with a pool. */
import { Cluster } from '@quicksand/core';
import type { NodeSpec } from '@quicksand/core';
import { ThreadPool } from '@quicksand/pool';

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise with its resolve/reject exposed. */
export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Expects `p` to reject; returns the error. */
export async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Lets pending calls and deliveries between in-process nodes run for a few turns. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Two in-process nodes with one CPU each. */
export const TWO_NODES: NodeSpec[] = [
  { cpus: 1, memory: '64MiB' },
  { cpus: 1, memory: '64MiB' },
];

/**
 * Starts a cluster of `nodes` and a pool on it before each test, and closes both after.
 * Read them from the returned object inside the tests.
 */
export function usePool(nodes: NodeSpec[] = TWO_NODES): { readonly cluster: Cluster; readonly pool: ThreadPool } {
  const env = {} as { cluster: Cluster; pool: ThreadPool };
  beforeEach(async () => {
    env.cluster = await Cluster.start({ nodes });
    env.pool = await ThreadPool.create(env.cluster);
  });
  afterEach(async () => {
    await env.pool.close();
    await env.cluster.close();
  });
  return env;
}
