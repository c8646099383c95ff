import { expect } from 'chai';
import { Cluster, ClosedError, ProcletNotFoundError } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { CounterType } from './fixtures/types.js';
import { rejects } from './helpers.js';

describe('distributed pointers — alloc, get, set, free', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('reads and writes a remote value, and keeps working after it migrates', async () => {
    const ptr = await cluster.alloc({ hits: 1, tags: ['a'] }, { node: 'n1' });
    expect(await ptr.get()).to.deep.equal({ hits: 1, tags: ['a'] });
    await ptr.set({ hits: 2, tags: [] });
    await cluster.migrate(ptr, 'n0');
    expect(await ptr.get()).to.deep.equal({ hits: 2, tags: [] });
    await ptr.set({ hits: 3, tags: ['b'] });
    await cluster.migrate(ptr, 'n1');
    expect(await ptr.get()).to.deep.equal({ hits: 3, tags: ['b'] });
  });

  it('places the value near a given proclet', async () => {
    const anchor = await cluster.create(CounterType, [], { node: 'n1' });
    const ptr = await cluster.alloc(7, { near: anchor });
    expect(await cluster.locate(ptr)).to.equal('n1');
    const ptr2 = await cluster.alloc(8, { near: ptr });
    expect(await cluster.locate(ptr2)).to.equal('n1');
  });

  it('passes between nodes by its wire form', async () => {
    const ptr = await cluster.alloc('shared', { node: 'n0' });
    const wire = JSON.parse(JSON.stringify(ptr)) as { id: string };
    const fromN1 = viewFrom(cluster, 'n1').pointer<string>(wire);
    expect(await fromN1.get()).to.equal('shared');
  });

  it('fails after free, locally and for other holders', async () => {
    const ptr = await cluster.alloc(1, { node: 'n1' });
    const other = viewFrom(cluster, 'n0').pointer<number>(ptr.toJSON());
    await ptr.free();
    expect(await rejects(ptr.get())).to.be.instanceOf(ClosedError);
    expect(await rejects(other.get())).to.be.instanceOf(ProcletNotFoundError);
  });
});
