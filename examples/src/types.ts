/**
 * Proclet types of the examples. Node processes import this module to host them, so it
 * has no top-level side effects.
 */
import { contextOf, defineProclet } from '@quicksand/core';
import { ShardedQueue } from '@quicksand/queue';
import { sleep, wallNow } from './common.js';

/** Tells which node and process it lives on (pin one to each node). */
export class WhoAmI {
  where(): [node: string, pid: number] {
    return [contextOf(this).node, process.pid];
  }
}
export const WhoAmIType = defineProclet('examples.WhoAmI', WhoAmI, { module: import.meta.url });

/** A schedule for {@link Trainer.run}. */
export interface TrainerPlan {
  /** The queue of samples. */
  queue: string;
  /** GPU counts, one per period, in order. */
  gpus: number[];
  periodMs: number;
  /** Samples a GPU takes per step. */
  batch: number;
  /** A GPU's compute time per step. */
  gpuMs: number;
}

/** What {@link Trainer.run} saw. Times are wall-clock milliseconds (shared by the processes of a machine). */
export interface TrainerLog {
  /** [time, GPU count] at each change, the first at the start. */
  changes: Array<[number, number]>;
  /** GPU time spent waiting for a batch, and computing. */
  idleMs: number;
  busyMs: number;
}

/**
 * The training stage of the paper's case study, emulated on a GPU server (a node with no
 * CPUs for compute proclets): each GPU takes a batch from the queue, then computes for a
 * fixed time. GPUs taken away stop at once, mid-batch, as when another job takes them.
 * It runs in its own process, as a trainer would, so its pace does not depend on how busy
 * the process that drives the experiment is.
 */
export class Trainer {
  async run(plan: TrainerPlan): Promise<TrainerLog> {
    const queue = ShardedQueue.open<unknown>(contextOf(this).cluster, plan.queue);
    let gpus = plan.gpus[0] ?? 0;
    let stop = false;
    let idleMs = 0;
    let busyMs = 0;
    // Resolves when GPUs are taken away; replaced after each such change.
    let revoke = (): void => undefined;
    let revoked = new Promise<void>((r) => (revoke = r));
    // Resolves when GPUs are added (or the run ends): GPUs not in use wait on it, not on a timer.
    let grant = (): void => undefined;
    let granted = new Promise<void>((r) => (grant = r));
    const most = Math.max(...plan.gpus);
    const gpu = async (index: number): Promise<void> => {
      while (!stop) {
        if (index >= gpus) {
          await granted;
          continue;
        }
        const w0 = performance.now();
        let got = 0;
        while (got < plan.batch && !stop) {
          const xs = await queue.popMany(plan.batch - got);
          if (xs.length === 0) return; // closed
          got += xs.length;
        }
        const w1 = performance.now();
        idleMs += w1 - w0;
        await Promise.race([sleep(plan.gpuMs), revoked]);
        busyMs += performance.now() - w1;
      }
    };
    const t0 = performance.now();
    const changes: Array<[number, number]> = [[wallNow(), gpus]];
    const loops = Array.from({ length: most }, (_, i) => gpu(i));
    for (let k = 1; k <= plan.gpus.length; k++) {
      await sleep(t0 + k * plan.periodMs - performance.now());
      if (k === plan.gpus.length) break;
      const before = gpus;
      gpus = plan.gpus[k]!;
      changes.push([wallNow(), gpus]);
      if (gpus < before) {
        revoke();
        revoked = new Promise<void>((r) => (revoke = r));
      } else if (gpus > before) {
        grant();
        granted = new Promise<void>((r) => (grant = r));
      }
    }
    stop = true;
    revoke();
    grant();
    await Promise.race([Promise.all(loops), sleep(1000)]);
    return { changes, idleMs, busyMs };
  }
}
export const TrainerType = defineProclet('examples.Trainer', Trainer, { module: import.meta.url });
