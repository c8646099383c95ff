import { expect } from 'chai';
import { estimateBytes } from '@quicksand/shard';

describe('estimateBytes — accounting of element sizes', () => {
  it('charges numbers, strings and typed arrays by what they hold', () => {
    expect(estimateBytes(1)).to.equal(8);
    expect(estimateBytes('abc')).to.equal(19);
    expect(estimateBytes(new Uint8Array(1000))).to.equal(1064);
    expect(estimateBytes(new Float64Array(10))).to.equal(144);
    expect(estimateBytes(null)).to.equal(4);
    expect(estimateBytes(true)).to.equal(4);
  });

  it('adds up arrays, plain objects, maps and sets, and grows with their content', () => {
    expect(estimateBytes({ id: 7, name: 'ada' })).to.equal(81);
    expect(estimateBytes([1, 2, 3])).to.equal(16 + 24);
    expect(estimateBytes(['a'])).to.equal(16 + 8 + 17);
    expect(estimateBytes(new Map([['k', 1]]))).to.equal(32 + 16 + 17 + 8);
    expect(estimateBytes(new Set([1, 2]))).to.equal(32 + 2 * 24);
    expect(estimateBytes({ a: 'x'.repeat(1000) })).to.be.greaterThan(1000);
  });

  it('stops at a depth limit instead of recursing forever on cycles', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(estimateBytes(a)).to.be.a('number').and.lessThan(10_000);
  });
});
