/**
 * The Quicksand demo (interim, until the full image pipeline lands): a cluster of two
 * in-process nodes; a memory proclet holding 4 MiB of "images" is read by compute
 * proclets whose tasks run on worker threads, while the data migrates between nodes under
 * load. Prints what moved, how long calls were blocked, and where everything ended up.
 */
import { Cluster, contextOf, defineProclet, taskSpec } from '@quicksand/core';
import type { Ref, TaskSpec } from '@quicksand/core';

/** A memory proclet holding fixed-size images. */
export class ImageStore {
  images: Uint8Array[] = [];
  add(batch: Uint8Array[]): number {
    this.images.push(...batch);
    contextOf(this).setSize(this.images.reduce((a, b) => a + b.byteLength, 0));
    return this.images.length;
  }
  slice(start: number, end: number): Uint8Array[] {
    return this.images.slice(start, end);
  }
  count(): number {
    return this.images.length;
  }
}
const StoreType = defineProclet('demo.ImageStore', ImageStore, { module: import.meta.url });

/** A compute proclet: fetches a range of images and runs the preprocessing task on a worker. */
export class Preprocessor {
  async process(store: { id: string }, start: number, end: number, task: TaskSpec): Promise<number> {
    const ctx = contextOf(this);
    const images = await ctx.cluster.ref<ImageStore>(store).call('slice', start, end);
    let sum = 0;
    for (const img of images) sum += await ctx.runTask<number>(task, img);
    return sum;
  }
}
const PrepType = defineProclet('demo.Preprocessor', Preprocessor, { kind: 'compute', module: import.meta.url });

const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
try {
  const started = performance.now();
  const migrations: string[] = [];
  cluster.on('migration', (e) => migrations.push(`${e.proclet} ${e.from}->${e.to} ${(e.bytes / 2 ** 20).toFixed(1)} MiB, calls blocked ${e.blockingMs.toFixed(2)} ms`));
  const store: Ref<ImageStore> = await cluster.create(StoreType, [], { node: 'n1' });
  for (let b = 0; b < 16; b++) {
    await store.call('add', Array.from({ length: 16 }, (_, i) => new Uint8Array(16 * 1024).fill((b * 16 + i) & 0xff)));
  }
  const preps = await Promise.all([cluster.create(PrepType, [], { node: 'n0' }), cluster.create(PrepType, [], { node: 'n1' })]);
  const task = taskSpec(new URL('./demo-tasks.js', import.meta.url), 'checksum');
  const n = await store.call('count');
  const jobs: Array<Promise<number>> = [];
  for (let start = 0; start < n; start += 16) jobs.push(preps[(start / 16) % 2]!.call('process', store, start, start + 16, task));
  // Move the data back and forth while the compute proclets read it.
  await cluster.migrate(store, 'n0');
  await cluster.migrate(store, 'n1');
  const total = (await Promise.all(jobs)).reduce((a, b) => a + b, 0);
  const stats = await cluster.stats();
  console.log(`processed ${n} images (checksum ${total}) in ${(performance.now() - started).toFixed(0)} ms`);
  for (const m of migrations) console.log(`  migrated ${m}`);
  for (const node of stats.nodes) {
    console.log(`  node ${node.id}: ${node.proclets.memory} memory / ${node.proclets.compute} compute proclets, ${(node.memoryUsed / 2 ** 20).toFixed(1)} MiB held, ${node.tasksCompleted} tasks run`);
  }
} finally {
  await cluster.close();
}
