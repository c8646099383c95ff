/**
 * The bulk writers against fake shards that answer out of order, refuse, and move keys,
 * so the ordering guarantees are tested without a cluster.
 */
import { expect } from 'chai';
import type { Ref } from '@quicksand/core';
import { KeyedBulkWriter, TailAppender, feed, hashKey, rng } from '@quicksand/shard/internal';
import type { KeyedBatch, KeyedBatchResult, ShardClient } from '@quicksand/shard/internal';

/** A route table of `n` fake shards over the hash space, whose boundaries can move. */
class FakeClient {
  version = 1;
  refs: Ref[];
  cuts: number[];
  refreshes = 0;
  readonly cfg = { maxShardBytes: 1 << 20, space: 2 ** 32, name: 'fake', kind: 'map' };
  readonly what = "map 'fake'";
  readonly cluster = { nodeId: 'test' };
  constructor(n: number) {
    this.refs = Array.from({ length: n }, (_, i) => ({ id: `s${i}` }) as Ref);
    this.cuts = Array.from({ length: n }, (_, i) => Math.floor((i * 2 ** 32) / n));
  }
  position(h: number): number {
    let p = 0;
    while (p + 1 < this.cuts.length && this.cuts[p + 1]! <= h) p++;
    return p;
  }
  route(h: number): Ref {
    return this.refs[this.position(h)]!;
  }
  last(): Ref {
    return this.refs[this.refs.length - 1]!;
  }
  async refresh(): Promise<void> {
    this.refreshes++;
  }
  async recover(): Promise<void> {
    this.refreshes++;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('KeyedBulkWriter — batching keyed writes per shard', () => {
  it('applies the last value of a repeated key even when shards answer batches out of order', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = rng(seed);
      const client = new FakeClient(4);
      const store = new Map<number, number>();
      // Each batch is applied after a random delay: batches overtake each other.
      const send = async (_ref: Ref, b: KeyedBatch<number, number>): Promise<KeyedBatchResult> => {
        for (let i = Math.floor(rand() * 5); i > 0; i--) await tick();
        b.ks.forEach((k, i) => store.set(k, b.vs[i]!));
        return null;
      };
      const w = new KeyedBulkWriter<number, number>(client as unknown as ShardClient, send, { batchBytes: 24, inFlightPerShard: 3 });
      const want = new Map<number, number>();
      for (let i = 0; i < 3000; i++) {
        const k = Math.floor(rand() * 40);
        want.set(k, i);
        const wait = w.write(hashKey(k), k, i, 8);
        if (wait !== undefined) await wait;
      }
      await w.flush();
      expect(store, `seed ${seed}`).to.deep.equal(want);
      expect(w.deferredWrites).to.be.greaterThan(0);
    }
  });

  it('finishes a flush whose send waits for a slot while answers release waiting writes (regression)', async () => {
    // Answers come back at once (as from a shard on this node), one batch in flight: the
    // flush's last send waits for the slot, and before the flush resumes, the answers
    // have released a repeated key's second write into a new buffer and nothing is active.
    const client = new FakeClient(1);
    const applied: Array<[number, number]> = [];
    const send = async (_ref: Ref, b: KeyedBatch<number, number>): Promise<KeyedBatchResult> => {
      b.ks.forEach((k, i) => applied.push([k, b.vs[i]!]));
      return null;
    };
    const w = new KeyedBulkWriter<number, number>(client as unknown as ShardClient, send, { batchBytes: 16, inFlightPerShard: 1 });
    for (const [k, v] of [[1, 10], [2, 20], [3, 30], [1, 11]] as Array<[number, number]>) expect(w.write(hashKey(k), k, v, 8)).to.equal(undefined);
    await w.flush();
    expect(applied).to.deep.equal([[1, 10], [2, 20], [3, 30], [1, 11]]);
  });

  it('re-routes the writes a shard refuses, after refreshing the routes', async () => {
    const client = new FakeClient(2);
    const owner = new Map<number, string>();
    let moved = false;
    const send = async (ref: Ref, b: KeyedBatch<number, number>): Promise<KeyedBatchResult> => {
      await tick();
      if (!moved) {
        // The first answer moves the boundary: keys in the upper quarter now belong to s1.
        moved = true;
        client.cuts[1] = 2 ** 31 + 2 ** 30;
      }
      const r: number[] = [];
      b.hs.forEach((h, i) => {
        if (client.route(h) !== ref) r.push(i);
        else owner.set(b.ks[i]!, ref.id);
      });
      return r.length === 0 ? null : { r, v: 2 };
    };
    const w = new KeyedBulkWriter<number, number>(client as unknown as ShardClient, send, { batchBytes: 64, inFlightPerShard: 2 });
    for (let k = 0; k < 500; k++) {
      const wait = w.write(hashKey(k), k, k, 8);
      if (wait !== undefined) await wait;
    }
    await w.flush();
    expect(owner.size).to.equal(500);
    for (const [k, id] of owner) expect(id, `owner of ${k}`).to.equal(client.route(hashKey(k)).id);
    expect(client.refreshes).to.be.greaterThan(0);
  });
});

describe('TailAppender — ordered appends to the last shard', () => {
  it('appends in order although batches arrive out of order and the tail moves', async () => {
    for (const seed of [7, 8, 9]) {
      const rand = rng(seed);
      const client = new FakeClient(1);
      const out: number[] = [];
      const expected = new Map<string, number>();
      let tail = client.refs[0]!;
      let sealed = 0;
      const append = async (ref: Ref, stream: string, seq: number, items: number[]): Promise<number> => {
        for (let i = Math.floor(rand() * 4); i > 0; i--) await tick();
        if (ref !== tail) throw Object.assign(new Error('stale tail'), { code: 'QS_ERR_STALE' });
        if (rand() < 0.05 && sealed < 5) {
          // The tail seals: a new shard takes over (the stream table moves with it); this batch is refused.
          sealed++;
          tail = { id: `t${sealed}` } as Ref;
          client.refs = [tail];
          throw Object.assign(new Error('stale tail'), { code: 'QS_ERR_STALE' });
        }
        const next = expected.get(stream) ?? 0;
        if (seq !== next) return -1;
        expected.set(stream, seq + 1);
        out.push(...items);
        return out.length - items.length;
      };
      const a = new TailAppender<number>(client as unknown as ShardClient, append, { batchBytes: 40, inFlightPerShard: 4 });
      for (let i = 0; i < 2000; i++) {
        const wait = a.push(i, 8);
        if (wait !== undefined) await wait;
      }
      expect(await a.end()).to.equal(2000);
      expect(out, `seed ${seed}`).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i));
      expect(sealed, 'the tail moved').to.be.greaterThan(0);
    }
  });

  it('closes the stream with the batch of the last element, or with an empty batch when the source did not say which was last', async () => {
    type Sent = { seq: number; items: number[]; last: boolean };
    const run = async (source: Iterable<number> | AsyncIterable<number>, n: number): Promise<Sent[]> => {
      const client = new FakeClient(1);
      const sent: Sent[] = [];
      const append = (_ref: Ref, _stream: string, seq: number, items: number[], last: boolean): Promise<number> => {
        sent.push({ seq, items, last });
        return Promise.resolve(seq);
      };
      // Two elements of 8 bytes fill a batch.
      const a = new TailAppender<number>(client as unknown as ShardClient, append, { batchBytes: 16, inFlightPerShard: 4 });
      await feed(source, (v, last) => a.push(v, 8, last));
      expect(await a.end()).to.equal(n);
      return sent;
    };
    function* gen(n: number): Generator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
    async function* agen(n: number): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) yield await Promise.resolve(i);
    }
    const full = [{ seq: 0, items: [0, 1], last: false }, { seq: 1, items: [2, 3], last: true }];
    // A sync source, array or not, is read one element ahead: the batch of its last element closes the stream.
    expect(await run([0, 1, 2, 3], 4)).to.deep.equal(full);
    expect(await run(gen(4), 4)).to.deep.equal(full);
    expect(await run([0], 1)).to.deep.equal([{ seq: 0, items: [0], last: true }]);
    // An async source is not read ahead: when its last element fills a batch, an empty batch closes the stream.
    expect(await run(agen(4), 4)).to.deep.equal([{ ...full[0]! }, { ...full[1]!, last: false }, { seq: 2, items: [], last: true }]);
    expect(await run(agen(3), 3)).to.deep.equal([{ ...full[0]! }, { seq: 1, items: [2], last: true }]);
  });
});
