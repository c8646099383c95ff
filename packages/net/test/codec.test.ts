import { expect } from 'chai';
import { CodecError, joinFrame } from '@quicksand/core';
import { MsgpackCodec } from '@quicksand/net';
import { rng } from './helpers.js';

describe('MsgpackCodec — round trips and bad bytes', () => {
  const a = new MsgpackCodec();
  const b = new MsgpackCodec();

  it('round-trips messages with the types the runtime uses', () => {
    const v = [[1, 5, 'p1', 'add', [1, 'x', null, true, { k: [1.5, -2] }]], [3, 9, { code: 'QS_ERR_CLOSED', name: 'ClosedError', message: 'm' }]];
    expect(b.decode(a.encode(v))).to.deep.equal(v);
  });

  it('sends large typed arrays out of band, without copying, and decodes them as views of the right type', () => {
    const big = new Float64Array(10_000).map((_, i) => i);
    const bytes = new Uint8Array(40_000).fill(9);
    const frame = a.encode([[2, 1, { big, nested: [bytes] }]]);
    expect(Array.isArray(frame)).to.equal(true);
    const chunks = frame as Uint8Array[];
    expect(chunks.some((c) => c.buffer === bytes.buffer)).to.equal(true); // referenced, not copied
    for (const f of [frame, joinFrame(frame)]) {
      const out = b.decode(f) as [[number, number, { big: Float64Array; nested: [Uint8Array] }]];
      expect(out[0][2].big).to.be.instanceOf(Float64Array);
      expect(Array.from(out[0][2].big.subarray(9_990))).to.deep.equal(Array.from(big.subarray(9_990)));
      expect(out[0][2].nested[0].byteLength).to.equal(40_000);
    }
  });

  it('sends the large typed arrays in a run of calls or results out of band, up to 256 per run', () => {
    const arrays = Array.from({ length: 200 }, (_, i) => new Uint8Array(33_000).fill(i));
    const run = [7, 'p1', 'put', Array.from({ length: 200 }, (_, i) => i), arrays.map((x) => [x, 'k'])];
    const results = [8, [1, 2], [arrays[0], { v: arrays[1] }]];
    const frame = a.encode([run, results]);
    expect(Array.isArray(frame)).to.equal(true);
    const chunks = frame as Uint8Array[];
    expect(arrays.every((x) => chunks.some((c) => c.buffer === x.buffer))).to.equal(true); // none copied
    const out = b.decode(frame) as [[number, string, string, number[], Array<[Uint8Array, string]>], [number, number[], [Uint8Array, { v: Uint8Array }]]];
    expect(out[0][4].map(([x]) => x[0])).to.deep.equal(arrays.map((_, i) => i));
    expect(out[1][2][1].v.byteLength).to.equal(33_000);
  });

  it('throws CodecError for values it cannot carry and for truncated or random bytes', () => {
    expect(() => a.encode({ f: Symbol('x') })).to.throw(CodecError);
    const good = a.encode([[1, 1, 'p1', 'm', [new Uint8Array(50_000)]]]);
    const joined = joinFrame(good);
    const rand = rng(7);
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const cut = joined.subarray(0, Math.floor(rand() * joined.byteLength));
      try {
        b.decode(cut);
      } catch (e) {
        expect(e).to.be.instanceOf(CodecError);
        errors++;
      }
    }
    expect(errors).to.be.greaterThan(1000);
  });
});
