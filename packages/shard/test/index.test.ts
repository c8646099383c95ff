/** The index's route log: deltas, snapshots, and what a client rebuilds from them. */
import { expect } from 'chai';
import { ShardIndex, resolveSharding, rng } from '@quicksand/shard/internal';
import type { RouteChange, RouteDelta } from '@quicksand/shard/internal';

function apply(table: Map<number, string>, d: RouteDelta): Map<number, string> {
  const t = d.full ? new Map<number, string>() : new Map(table);
  for (const [left, id] of d.changes) {
    if (id === null) t.delete(left);
    else t.set(left, id);
  }
  return t;
}

function tableOf(ix: ShardIndex): Map<number, string> {
  return new Map(ix.lefts.map((l, i) => [l, ix.ids[i]!]));
}

describe('ShardIndex — route versions, change log and deltas', () => {
  it('answers a client a few versions behind with a delta, and one behind the log with the whole table', () => {
    const rand = rng(3);
    const ix = new ShardIndex(resolveSharding('t', 'map', 2 ** 32, undefined));
    ix.init('s0');
    const snapshots: Array<Map<number, string>> = [new Map(), tableOf(ix)]; // by version
    let next = 1;
    for (let v = 2; v <= 150; v++) {
      // A random split (new left key) or merge (a left key removed, or re-pointed).
      const changes: RouteChange[] = [];
      if (ix.lefts.length < 3 || rand() < 0.6) {
        let left = 0;
        while (ix.lefts.includes(left)) left = Math.floor(rand() * 2 ** 32);
        changes.push([left, `s${next++}`]);
      } else {
        const i = 1 + Math.floor(rand() * (ix.lefts.length - 1));
        if (rand() < 0.5) changes.push([ix.lefts[i]!, null]);
        else changes.push([ix.lefts[i - 1]!, ix.ids[i]!], [ix.lefts[i]!, null]);
      }
      ix._commit(v, changes, false);
      snapshots.push(tableOf(ix));
    }
    expect(ix.version).to.equal(150);
    expect(ix.lefts[0]).to.equal(0);
    expect([...ix.lefts].sort((a, b) => a - b)).to.deep.equal(ix.lefts);
    for (const since of [149, 140, 100, 87, 86, 50, 1]) {
      const d = ix._delta(since);
      expect(d.version).to.equal(150);
      // The log keeps 64 changes: versions 87..150, so a client at 86 or later gets a delta.
      expect(d.full, `since ${since}`).to.equal(since < 86);
      expect(apply(snapshots[since]!, d), `rebuilt from ${since}`).to.deep.equal(snapshots[150]);
    }
    expect(ix._delta(150)).to.deep.equal({ version: 150, full: false, changes: [] });
  });

  it('makes a clear a full table in the log, so deltas across it are whole tables', () => {
    const ix = new ShardIndex(resolveSharding('t', 'vector', Number.MAX_SAFE_INTEGER, undefined));
    ix.init('a');
    ix._commit(2, [[100, 'b']], false);
    ix._commit(3, [[0, 'a']], true);
    ix._commit(4, [[50, 'c']], false);
    expect(ix._delta(1).full).to.equal(true);
    expect(ix._delta(3)).to.deep.equal({ version: 4, full: false, changes: [[50, 'c']] });
    expect(apply(new Map([[0, 'a'], [100, 'b']]), ix._delta(2))).to.deep.equal(new Map([[0, 'a'], [50, 'c']]));
  });
});
