import { expect } from 'chai';
import { PendingTable } from '@quicksand/core/internal';
import type { Pending } from '@quicksand/core/internal';

const call = (node: string): Pending => ({ resolve: () => undefined, reject: () => undefined, pid: 'p1', method: 'm', args: [], node, hops: 0 });

describe('PendingTable — the calls in flight', () => {
  it('finds a call by its id once, and ignores ids it did not give or no longer holds', () => {
    const t = new PendingTable();
    const a = call('n1');
    const id = t.add(a);
    expect(t.size).to.equal(1);
    expect(t.get(id)).to.equal(a);
    expect(t.take(id)).to.equal(a);
    expect(t.take(id)).to.equal(undefined);
    expect(t.get(id)).to.equal(undefined);
    expect(t.size).to.equal(0);
    for (const bad of [-1, 1.5, 2 ** 40, Number.NaN, id + 1]) expect(t.get(bad)).to.equal(undefined);
  });

  it('takes a call out for a reply only from the node it was sent to', () => {
    const t = new PendingTable();
    const a = call('n1');
    const id = t.add(a);
    expect(t.takeFrom(id, 'n2')).to.equal(undefined); // a foreign reply leaves it in flight
    expect(t.size).to.equal(1);
    expect(t.takeFrom(id, 'n1')).to.equal(a);
    expect(t.takeFrom(id, 'n1')).to.equal(undefined); // answered once
    expect(t.size).to.equal(0);
    const b = call('n1');
    expect(t.add(b)).to.not.equal(id); // the slot is reused under a new id
  });

  it('keeps ids small integers while a slot is reused, and a stale id does not match the new call', () => {
    const t = new PendingTable();
    const first = t.add(call('n1'));
    t.take(first);
    let stale = 0;
    for (let i = 0; i < 2000; i++) {
      const id = t.add(call('n1'));
      expect(Number.isInteger(id) && id >= 0 && id < 2 ** 30).to.equal(true);
      // The same slot, a new generation: the first id matches only every 512th reuse.
      if (t.get(first) !== undefined) stale++;
      t.take(id);
    }
    expect(stale).to.equal(Math.floor(2000 / 512));
  });
});
