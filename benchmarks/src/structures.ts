/**
 * Structures benchmark: the sharded map and vector next to their baselines, measured in
 * the same run. "Local" means every shard is on this process's node (an in-process
 * cluster of one node); "remote" means every shard is on a node process started with
 * `LocalCluster` and this process is a client, so every call is a real RPC over loopback.
 *
 * Measured:
 * - `nativeMapGetNs`: `await` of an async wrapper around a native `Map.get`, 1M integer
 *   keys, in random order (the baseline); `localMapGetNs`: `ShardedMap.get` of the same
 *   keys with every shard local (default shard bound, so about 70 shards);
 *   `localMapGetRatio` = local over native (bar: <= 2). Rounds of the two alternate.
 * - `remoteMapGetP50Us`: sequential `ShardedMap.get` from this process to shards on a node
 *   process, p50 in microseconds.
 * - `bulkSetOpsPerSec`: `setMany` of N new string keys with small integer values to an
 *   empty map whose shards are on a node process (default batching: 16 KiB batches, 8 in
 *   flight per shard), splits included, after a warm-up; median of rounds (bar: >= 500,000).
 * - `redisPipelinedOpsPerSec`: the same N SETs sent with ioredis to a local
 *   `redis-server` (no persistence) in pipelines of 1,000 commands, 8 in flight, after the
 *   same warm-up, median of as many rounds, beside
 *   `bulkSetOpsPerSec`; `bulkSetVsRedis` = ours over Redis. Skipped (null, and said so)
 *   when no `redis-server` binary is on the PATH.
 * - `scanLocalItemsPerSec` / `scanRemoteItemsPerSec`: `for await` over a 1M-number vector
 *   whose shards are local / on a node process (default prefetching).
 * - `computeLocalItemsPerSec` / `computeRemoteItemsPerSec`: the same iteration over the
 *   first M elements with about 20 us of CPU work per element in the consumer (a
 *   calibrated arithmetic loop); `computeRemoteRatio` = remote over local (bar: >= 0.95).
 *   Rounds of the two alternate.
 * - `splitsObserved`: `split` events seen while the structures filled.
 * Not measured: several machines (loopback only); memory use.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { Cluster } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { ShardedMap } from '@quicksand/map';
import { ShardedVector } from '@quicksand/vector';
import { Redis } from 'ioredis';
import { flags, median, nowNs, percentile, report, tick } from './harness.js';
import type { Row } from './harness.js';

const f = flags();
const KEYS = 1_000_000;
const VECTOR = 1_000_000;
const BULK = f.quick ? 300_000 : 1_000_000;
const COMPUTE = f.quick ? 10_000 : 50_000;
const WORK_US = 20;

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let seed = 12345;
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/** A loop whose iterations take a known time, calibrated here. */
function calibrate(): (us: number) => number {
  let sink = 0;
  const spin = (iters: number): number => {
    let x = 1;
    for (let i = 0; i < iters; i++) x = (x * 1664525 + 1013904223) % 4294967296;
    sink ^= x;
    return sink;
  };
  const per: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t = nowNs();
    spin(200_000);
    per.push(200_000 / ((nowNs() - t) / 1000));
  }
  const itersPerUs = median(per);
  return (us: number) => spin(Math.round(us * itersPerUs));
}
const work = calibrate();

async function iterate(v: ShardedVector<number>, n: number, us: number): Promise<number> {
  const t = nowNs();
  let count = 0;
  let sum = 0;
  for await (const x of v.range(0, n)) {
    sum += x;
    count++;
    if (us > 0) work(us);
  }
  if (count !== n || sum !== (n * (n - 1)) / 2) throw new Error(`iteration saw ${count} elements (sum ${sum}), expected ${n}`);
  return count / ((nowNs() - t) / 1e9);
}

function onPath(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** SET throughput against a local redis-server, or null when there is no binary. */
async function redisPipelined(keys: string[], rounds: number): Promise<number | null> {
  const bin = onPath('redis-server');
  if (bin === null) return null;
  const port = await freePort();
  const server: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: null });
  client.on('error', () => undefined); // connection errors surface through the commands
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready: ${out.slice(-500)}`)));
    });
    server.stdout!.resume();
    await client.connect();
    await client.flushall();
    const BATCH = 1000;
    const once = async (n: number): Promise<number> => {
      await client.flushall();
      let next = 0;
      const t = nowNs();
      const worker = async (): Promise<void> => {
        while (next < n) {
          const from = next;
          next = Math.min(n, next + BATCH);
          const p = client.pipeline();
          for (let i = from; i < next; i++) p.set(keys[i]!, String(i));
          await p.exec();
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const rate = n / ((nowNs() - t) / 1e9);
      if ((await client.dbsize()) !== n) throw new Error('redis holds fewer keys than were set');
      return rate;
    };
    await once(Math.min(100_000, keys.length)); // warm-up, as for the map
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) rates.push(await once(keys.length));
    const rate = median(rates);
    return rate;
  } finally {
    client.disconnect();
    server.kill('SIGKILL');
  }
}

let splits = 0;
const rows: Row[] = [];

// ------------------------------------------------------------------ local: one in-process node
const local = await Cluster.start({ nodes: [{ cpus: 1, memory: '4GiB' }] });
local.on('split', () => splits++);
let nativeNs: number;
let localNs: number;
const scanLocal: number[] = [];
const computeLocal: number[] = [];
let localVector: ShardedVector<number>;
try {
  const order = shuffled(KEYS);
  const native = new Map<number, number>();
  for (let i = 0; i < KEYS; i++) native.set(i, i);
  const nativeGet = async (k: number): Promise<number | undefined> => native.get(k);
  const map = await ShardedMap.create<number, number>(local, 'bench-local-map');
  await map.setMany(order.map((k): [number, number] => [k, k]));

  const N = f.quick ? 300_000 : KEYS;
  const rounds = f.quick ? 5 : 11;
  const A: number[] = [];
  const B: number[] = [];
  let check = 0;
  for (let r = 0; r < rounds; r++) {
    let t = nowNs();
    for (let i = 0; i < N; i++) check += (await nativeGet(order[i]!))!;
    A.push((nowNs() - t) / N);
    t = nowNs();
    for (let i = 0; i < N; i++) check -= (await map.get(order[i]!))!;
    B.push((nowNs() - t) / N);
    await tick();
  }
  if (check !== 0) throw new Error('the sharded map returned other values than the native one');
  nativeNs = median(A);
  localNs = median(B);
  rows.push({ key: 'nativeMapGetNs', value: nativeNs, note: 'baseline: await of an async wrapper around Map.get, 1M int keys, random order' });
  rows.push({ key: 'localMapGetNs', value: localNs, note: `ShardedMap.get, every shard local (${(await map.shards()).length} shards)` });
  rows.push({ key: 'localMapGetRatio', value: localNs / nativeNs, note: 'bar: <= 2' });
  await map.destroy();

  localVector = await ShardedVector.create<number>(local, 'bench-local-vector');
  await localVector.pushAll(Array.from({ length: VECTOR }, (_, i) => i));
} catch (e) {
  await local.close();
  throw e;
}

// ------------------------------------------------------------------ remote: shards on a node process
const remote = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '4GiB' }], logs: 'silent' });
remote.on('split', () => splits++);
try {
  const keys = Array.from({ length: BULK }, (_, i) => `key:${i}`);
  const entries = keys.map((k, i): [string, number] => [k, i]);
  // Warm up both ends (JIT) with a smaller map, then time fresh maps filled from empty.
  const warm = await ShardedMap.create<string, number>(remote, 'bench-warm-up');
  await warm.setMany(entries.slice(0, 100_000));
  await warm.destroy();
  const bulkRounds = f.quick ? 3 : 5;
  const bulkRates: number[] = [];
  let map!: ShardedMap<string, number>;
  let shardCount = 0;
  for (let r = 0; r < bulkRounds; r++) {
    if (r > 0) await map.destroy();
    map = await ShardedMap.create<string, number>(remote, `bench-remote-map-${r}`);
    const t0 = nowNs();
    await map.setMany(entries);
    bulkRates.push(BULK / ((nowNs() - t0) / 1e9));
    if ((await map.size()) !== BULK) throw new Error('the map holds fewer entries than were set');
    shardCount = (await map.shards()).length;
  }
  const bulk = median(bulkRates);
  rows.push({ key: 'bulkSetOpsPerSec', value: bulk, note: `setMany of ${BULK} new keys to an empty map on a node process, median of ${bulkRounds} (${shardCount} shards after; bar: >= 500000)` });

  const redis = await redisPipelined(keys, bulkRounds);
  rows.push({ key: 'redisPipelinedOpsPerSec', value: redis, note: redis === null ? 'skipped: no redis-server binary on PATH (apt-get install redis-server)' : 'same SETs, ioredis pipelines of 1000, 8 in flight, local redis-server' });
  rows.push({ key: 'bulkSetVsRedis', value: redis === null ? null : bulk / redis, note: 'ours over Redis' });

  const lat: number[] = [];
  const gets = f.quick ? 3000 : 20_000;
  let t = 0;
  for (let i = 0; i < gets; i++) {
    const k = (i * 7919) % BULK;
    t = nowNs();
    const v = await map.get(keys[k]!);
    lat.push((nowNs() - t) / 1000);
    if (v !== k) throw new Error(`remote get returned ${v} for ${keys[k]}`);
  }
  rows.push({ key: 'remoteMapGetP50Us', value: percentile(lat, 50), note: `sequential gets to a node process (p99 ${percentile(lat, 99).toFixed(0)} us)` });
  await map.destroy();

  const vector = await ShardedVector.create<number>(remote, 'bench-remote-vector');
  t = nowNs();
  await vector.pushAll(Array.from({ length: VECTOR }, (_, i) => i));
  const pushRate = VECTOR / ((nowNs() - t) / 1e9);

  const scanRounds = f.quick ? 3 : 5;
  const scanRemote: number[] = [];
  for (let r = 0; r < scanRounds; r++) {
    scanLocal.push(await iterate(localVector, VECTOR, 0));
    scanRemote.push(await iterate(vector, VECTOR, 0));
  }
  const computeRemote: number[] = [];
  const computeRounds = f.quick ? 3 : 5;
  for (let r = 0; r < computeRounds; r++) {
    computeLocal.push(await iterate(localVector, COMPUTE, WORK_US));
    computeRemote.push(await iterate(vector, COMPUTE, WORK_US));
  }
  rows.push({ key: 'pushAllOpsPerSec', value: pushRate, note: `pushAll of ${VECTOR} numbers to a vector on a node process` });
  rows.push({ key: 'scanLocalItemsPerSec', value: median(scanLocal), note: `for await over a ${VECTOR}-number vector, shards local` });
  rows.push({ key: 'scanRemoteItemsPerSec', value: median(scanRemote), note: 'the same, shards on a node process' });
  rows.push({ key: 'scanRemoteRatio', value: median(scanRemote) / median(scanLocal), note: 'remote over local' });
  rows.push({ key: 'computeLocalItemsPerSec', value: median(computeLocal), note: `${COMPUTE} elements with ~${WORK_US} us of CPU each, shards local` });
  rows.push({ key: 'computeRemoteItemsPerSec', value: median(computeRemote), note: 'the same, shards on a node process' });
  rows.push({ key: 'computeRemoteRatio', value: median(computeRemote) / median(computeLocal), note: 'remote over local (bar: >= 0.95)' });
  rows.push({ key: 'splitsObserved', value: splits, note: 'split events while the structures filled' });
} finally {
  await remote.close();
  await local.close();
}
report('structures', rows, f);
