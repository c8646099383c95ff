import { expect } from 'chai';
import { taskFromFunction, taskSpec } from '@quicksand/core';
import { WorkerPool, rangeTask } from '@quicksand/core/internal';
import type { RangeOutput } from '@quicksand/core/internal';

const tasks = new URL('./fixtures/tasks.js', import.meta.url);

describe('range tasks — one message runs a function over many elements', () => {
  let pool: WorkerPool;
  beforeEach(() => {
    pool = new WorkerPool(1, 'test');
  });
  afterEach(async () => {
    await pool.close();
  });

  const items = Array.from({ length: 1_000 }, (_, i) => i);

  it('maps, filters, reduces and visits a range in order, passing each source position', async () => {
    const map = (await pool.run(rangeTask('map'), { fn: taskFromFunction((x: number, i: number) => x * 10 + i), items, start: 5 })) as RangeOutput;
    expect(map.values).to.deep.equal(items.map((x, i) => x * 10 + i + 5));
    expect(map.n).to.equal(1_000);
    const filter = (await pool.run(rangeTask('filter'), { fn: taskSpec(tasks, 'isEven'), items, start: 0 })) as RangeOutput;
    expect(filter.values).to.deep.equal(items.filter((x) => x % 2 === 0));
    const reduce = (await pool.run(rangeTask('reduce'), { fn: taskSpec(tasks, 'add'), items, start: 0, init: 7 })) as RangeOutput;
    expect(reduce.acc).to.equal(items.reduce((a, b) => a + b, 7));
    const each = (await pool.run(rangeTask('forEach'), { fn: taskSpec(tasks, 'inc'), items, start: 0 })) as RangeOutput;
    expect(each).to.include({ n: 1_000 });
    expect(each.values).to.equal(undefined);
  });

  it('stops at the first element that throws and names its source position', async () => {
    const out = (await pool.run(rangeTask('map'), { fn: taskSpec(tasks, 'failAt13'), items, start: 100 })) as RangeOutput;
    expect(out.error?.index).to.equal(113);
    expect(out.error?.error).to.include({ name: 'RangeError', message: 'thirteen' });
    expect(out.n).to.equal(13);
  });

  it('stops between two elements once the cancel flag is raised', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    await pool.run(taskSpec(tasks, 'installFlag'), flag);
    const out = (await pool.run(rangeTask('map'), { fn: taskSpec(tasks, 'raiseFlag'), items, start: 0, cancel: flag })) as RangeOutput;
    expect(out.cancelled).to.equal(true);
    expect(out.n).to.equal(101);
  });

  it('moves Uint8Array results back by transfer', async () => {
    const fn = taskFromFunction((x: number) => new Uint8Array(64 * 1024).fill(x & 0xff));
    const out = (await pool.run(rangeTask('map'), { fn, items: [1, 2, 3], start: 0 })) as RangeOutput;
    const values = out.values as Uint8Array[];
    expect(values.map((v) => v[0])).to.deep.equal([1, 2, 3]);
    expect(values.every((v) => v.byteLength === 64 * 1024)).to.equal(true);
  });
});
