/**
 * Prefetching iteration over a key range of a sharded structure.
 *
 * Semantics:
 * - The range `[from, to)` is cut into blocks, each a sub-range requested from the shard
 *   that owns its start. A block asks for about `blockBytes` of elements: its width is
 *   the byte budget divided by the density (bytes per key unit) the shards last reported,
 *   and the shard also stops at the byte budget, answering where it stopped (`next`).
 *   Blocks start at `initialBlockBytes` and double up to `blockBytes`.
 * - At most `window` blocks are requested or buffered ahead of the consumer, and they are
 *   requested as soon as a slot frees, so fetching overlaps the consumer's work and a
 *   block of the next shard is on its way before the current shard is finished.
 * - Elements come out in key order. A block answered short (a byte budget hit, a shard
 *   that split or merged, a range that ends at a shard boundary) is followed by a block
 *   for the rest of its sub-range, inserted in order; a refused block is re-routed after
 *   the routes are refreshed. Resumption is by key, never by shard, so splits, merges and
 *   migrations of the shards being walked are invisible: every key of `[from, to)` is
 *   covered by exactly one answered block, hence each element present for the whole
 *   iteration is yielded exactly once.
 *
 * Invariants: the blocks in `#queue` cover `[from, #cursor)` minus what was consumed,
 * without gaps or overlaps, in key order.
 *
 * Not handled: elements written during the iteration are yielded or not depending on
 * whether their block was fetched before the write.
 */
import type { Ref } from '@quicksand/core';
import type { ShardClient } from './client.js';
import type { ResolvedPrefetch } from './options.js';
import { toError } from './protocol.js';
import type { ScanBlock } from './protocol.js';

/** @internal Fetches one block: the elements with keys in `[from, to)` up to `maxBytes`. */
export type ScanFn<T> = (ref: Ref, from: number, to: number, maxBytes: number) => Promise<ScanBlock<T>>;

interface Block<T> {
  from: number;
  to: number;
  result: ScanBlock<T> | null;
  error: Error | null;
  settled: Promise<void>;
}

/**
 * @internal An async iterator over the elements with keys in `[from, to)`; see the
 * module comment.
 */
export class BlockIterator<T> implements AsyncIterableIterator<T> {
  readonly #client: ShardClient;
  readonly #scan: ScanFn<T>;
  readonly #to: number;
  readonly #opts: ResolvedPrefetch;
  #cursor: number;
  #queue: Array<Block<T>> = [];
  #items: T[] = [];
  #at = 0;
  #blockBytes: number;
  #density = 0;
  #done = false;
  /** Blocks fetched so far (for tests and stats). */
  blocksFetched = 0;

  constructor(client: ShardClient, scan: ScanFn<T>, from: number, to: number, opts: ResolvedPrefetch) {
    this.#client = client;
    this.#scan = scan;
    this.#cursor = from;
    this.#to = to;
    this.#opts = opts;
    this.#blockBytes = opts.initialBlockBytes;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#at < this.#items.length) {
      const value = this.#items[this.#at++]!;
      return Promise.resolve({ value, done: false });
    }
    return this.#nextSlow();
  }

  /** The next block of elements (an empty array at the end); for bulk consumers. */
  async nextBlock(): Promise<T[]> {
    if (this.#at < this.#items.length) {
      const rest = this.#at === 0 ? this.#items : this.#items.slice(this.#at);
      this.#items = [];
      this.#at = 0;
      return rest;
    }
    while (!this.#done) {
      const items = await this.#take();
      if (items === null) break;
      if (items.length > 0) return items;
    }
    return [];
  }

  return(): Promise<IteratorResult<T>> {
    this.#done = true;
    this.#queue = [];
    this.#items = [];
    return Promise.resolve({ value: undefined, done: true });
  }

  async #nextSlow(): Promise<IteratorResult<T>> {
    while (!this.#done) {
      const items = await this.#take();
      if (items === null) break;
      if (items.length > 0) {
        this.#items = items;
        this.#at = 1;
        return { value: items[0]!, done: false };
      }
    }
    this.#done = true;
    return { value: undefined, done: true };
  }

  /** Waits for the head block and returns its items, or null when the range is exhausted. */
  async #take(): Promise<T[] | null> {
    this.#fill();
    const head = this.#queue[0];
    if (head === undefined) return null;
    await head.settled;
    if (this.#done) return null;
    this.#queue.shift();
    if (head.error !== null) {
      this.#done = true;
      throw head.error;
    }
    const r = head.result!;
    if (r.density > 0) this.#density = r.density;
    if (this.#blockBytes < this.#opts.blockBytes) this.#blockBytes = Math.min(this.#opts.blockBytes, this.#blockBytes * 2);
    if (r.next <= head.from) {
      this.#done = true;
      throw new RangeError(`${this.#client.what}: a shard answered the block [${head.from}, ${head.to}) without progress`);
    }
    if (r.next < head.to) this.#queue.unshift(this.#request(r.next, head.to));
    this.#fill();
    return r.items;
  }

  /** Requests blocks until the window is full or the range is covered. */
  #fill(): void {
    const c = this.#client;
    while (this.#queue.length < this.#opts.window && this.#cursor < this.#to) {
      const from = this.#cursor;
      const bound = c.rightOf(c.position(from));
      let end = Math.min(this.#to, bound);
      if (this.#density > 0) {
        const width = Math.max(1, Math.floor(this.#blockBytes / this.#density));
        end = Math.min(end, from + width);
      }
      this.#queue.push(this.#request(from, end));
      this.#cursor = end;
      // Without a density yet, wait for the first answer before requesting more.
      if (this.#density === 0) break;
    }
  }

  #request(from: number, to: number): Block<T> {
    const block: Block<T> = { from, to, result: null, error: null, settled: Promise.resolve() };
    const bytes = this.#blockBytes;
    const c = this.#client;
    const ref = c.route(from);
    this.blocksFetched++;
    block.settled = this.#scan(ref, from, to, bytes)
      .catch((e: unknown) => c.retry(e, ref, from, (r) => this.#scan(r, from, to, bytes)))
      .then(
        (res) => {
          block.result = res;
        },
        (e: unknown) => {
          block.error = toError(e);
        },
      );
    return block;
  }
}
