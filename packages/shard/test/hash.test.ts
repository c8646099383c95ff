import { expect } from 'chai';
import { HASH_SPACE, hashKey } from '@quicksand/shard';

describe('hashKey — a 32-bit key hash', () => {
  it('gives equal hashes to keys a Map treats as equal, and is deterministic', () => {
    expect(hashKey(0)).to.equal(hashKey(-0));
    expect(hashKey(NaN)).to.equal(hashKey(Number('x')));
    expect(hashKey('user:42')).to.equal(hashKey('user:' + String(42)));
    expect(hashKey(1.5)).to.equal(hashKey(3 / 2));
    // Pinned values: the hash must be the same on every node, process and release.
    expect([0, 1, '', 'a', 2 ** 40, -7, 'user:42'].map((k) => hashKey(k))).to.deep.equal([3651860435, 1779534532, 3954623016, 2141232806, 3120804332, 1895269963, 2435133403]);
  });

  it('tells the number 1 from the string "1" and distinguishes nearby keys', () => {
    expect(hashKey(1)).to.not.equal(hashKey('1'));
    const hs = new Set([0, 1, 2, 3, 2 ** 31, -1, 0.5, 'a', 'b', 'ab', 'ba', 'abc', 'acb'].map((k) => hashKey(k)));
    expect(hs.size).to.equal(13);
  });

  it('returns unsigned 32-bit integers', () => {
    for (const k of [0, -1, 1e300, -1e-300, Infinity, -Infinity, 'x'.repeat(1001), '\u{1F600}']) {
      const h = hashKey(k);
      expect(Number.isInteger(h) && h >= 0 && h < HASH_SPACE, String(k)).to.equal(true);
    }
  });

  it('spreads sequential integers and similar strings evenly over the high bits (which pick shards)', () => {
    for (const make of [(i: number): string | number => i, (i: number): string | number => `key-${i}`, (i: number): string | number => i * 1024]) {
      const buckets = new Array<number>(16).fill(0);
      const n = 64_000;
      for (let i = 0; i < n; i++) buckets[hashKey(make(i)) >>> 28]!++;
      const expected = n / 16;
      const chi2 = buckets.reduce((a, b) => a + (b - expected) ** 2 / expected, 0);
      expect(chi2, `chi-square over 16 buckets: ${buckets.join(',')}`).to.be.lessThan(50); // p < 1e-5 for 15 d.o.f.
    }
  });

  it('refuses keys that are neither strings nor numbers', () => {
    expect(() => hashKey({} as never)).to.throw(TypeError, 'keys must be strings or numbers, got object');
    expect(() => hashKey(null as never)).to.throw(TypeError, 'got null');
  });
});
