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

/** An event that can happen again: `next` resolves at the next `fire()`. */
class Signal {
  next!: Promise<void>;
  #fire!: () => void;

  constructor() {
    this.#arm();
  }

  fire(): void {
    const fire = this.#fire;
    this.#arm();
    fire();
  }

  #arm(): void {
    this.next = new Promise<void>((r) => (this.#fire = r));
  }
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
    // GPUs taken away stop computing at once; GPUs not in use wait for GPUs to be added
    // (not on a timer). Both also fire when the run ends.
    const revoked = new Signal();
    const granted = new Signal();
    const most = Math.max(...plan.gpus);
    const gpu = async (index: number): Promise<void> => {
      while (!stop) {
        if (index >= gpus) {
          await granted.next;
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
        await Promise.race([sleep(plan.gpuMs), revoked.next]);
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
      if (gpus < before) revoked.fire();
      else if (gpus > before) granted.fire();
    }
    stop = true;
    revoked.fire();
    granted.fire();
    await Promise.race([Promise.all(loops), sleep(1000)]);
    return { changes, idleMs, busyMs };
  }
}
export const TrainerType = defineProclet('examples.Trainer', Trainer, { module: import.meta.url });
