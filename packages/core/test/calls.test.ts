import { expect } from 'chai';
import { Cluster, CodecError, NoSuchMethodError, ProcletNotFoundError, UnknownTypeError, V8Codec, defineProclet } from '@quicksand/core';
import { viewFrom } from '@quicksand/core/internal';
import { CounterType } from './fixtures/types.js';
import { rejects } from './helpers.js';

describe('calls — local and remote through a Ref', () => {
  let cluster: Cluster;
  beforeEach(async () => {
    cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }] });
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('runs a local call on the very object, passing arguments by reference', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n0' });
    const arg: { touched?: boolean } = {};
    expect(await ref.call('keep', arg)).to.equal(true);
    expect(arg.touched).to.equal(true);
  });

  it('runs a remote call through the codec, so arguments are copied', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const arg: { touched?: boolean } = {};
    expect(await ref.call('keep', arg)).to.equal(true);
    expect(arg.touched).to.equal(undefined);
    expect(await ref.call('add', 5)).to.equal(5);
    expect(await ref.call('where')).to.equal('n1');
  });

  it('carries typed arrays, maps and big payloads both ways', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
    const back = (await ref.call('echo', { big, m: new Map([[1, 'a']]), f: new Float64Array([1.5, 2.5]) })) as { big: Uint8Array; m: Map<number, string>; f: Float64Array };
    expect(back.big).to.deep.equal(big);
    expect(back.m.get(1)).to.equal('a');
    expect(Array.from(back.f)).to.deep.equal([1.5, 2.5]);
  });

  it('rethrows a method error as the same class, naming node, proclet and method', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const e = await rejects(ref.call('fail', 'no way'));
    expect(e).to.be.instanceOf(RangeError);
    expect(e.message).to.contain('no way').and.contain('node n1').and.contain(ref.id).and.contain('fail');
    const local = await cluster.create(CounterType, [], { node: 'n0' });
    const e2 = await rejects(local.call('fail', 'local'));
    expect(e2).to.be.instanceOf(RangeError);
    expect(e2.message).to.equal('local');
  });

  it('refuses unknown and underscore methods with NoSuchMethodError listing the real ones', async () => {
    for (const node of ['n0', 'n1']) {
      const ref = await cluster.create(CounterType, [], { node });
      const e = await rejects(ref.call('nope' as never));
      expect(e).to.be.instanceOf(NoSuchMethodError);
      expect(e.message).to.contain('add');
      expect(await rejects(ref.call('_secret' as never))).to.be.instanceOf(NoSuchMethodError);
    }
  });

  it('fails a remote call whose arguments cannot cross the wire with CodecError, and nothing else', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    const okCall = ref.call('add', 1);
    const bad = ref.call('echo', { f: () => 1 });
    expect(await rejects(bad)).to.be.instanceOf(CodecError);
    expect(await okCall).to.equal(1);
  });

  it('sends repeated calls in one frame compactly, and still fails only the one that cannot cross the wire', async () => {
    const ref = await cluster.create(CounterType, [], { node: 'n1' });
    // One tick, one frame: the ten calls travel as one run (one proclet id and method, a
    // column of ids, one of arguments), and the first one cannot be encoded (the frame is
    // then sent call by call, written out).
    const bad = ref.call('add', { f: () => 1 } as unknown as number);
    const good = Array.from({ length: 9 }, () => ref.call('add', 1));
    expect(await rejects(bad)).to.be.instanceOf(CodecError);
    expect(await Promise.all(good)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('answers a result that cannot cross the wire with CodecError', async () => {
    class Leaky {
      give(): unknown {
        return { fn: () => 1 };
      }
    }
    const T = defineProclet('test.calls.Leaky', Leaky);
    const ref = await cluster.create(T, [], { node: 'n1' });
    expect(await rejects(ref.call('give'))).to.be.instanceOf(CodecError);
  });

  it('lets proclets call each other, and works from any node view', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n0' });
    const b = await cluster.create(CounterType, [], { node: 'n1' });
    expect(await a.call('callOther', b, 7)).to.equal(7);
    const fromN1 = viewFrom(cluster, 'n1').ref<InstanceType<typeof CounterType.ctor>>(a.id);
    expect(await fromN1.call('add', 2)).to.equal(2);
    expect(fromN1.caller).to.equal('n1');
  });

  it('rebuilds a Ref from its wire form', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n1' });
    const wire = new V8Codec().decode(new V8Codec().encode(a)) as { id: string };
    expect(wire).to.deep.equal({ id: a.id });
    expect(await cluster.ref<InstanceType<typeof CounterType.ctor>>(wire).call('add', 3)).to.equal(3);
  });

  it('fails calls to a destroyed proclet with ProcletNotFoundError, from every node', async () => {
    const a = await cluster.create(CounterType, [], { node: 'n1' });
    await a.call('add', 1);
    await cluster.destroy(a);
    expect(await rejects(a.call('add', 1))).to.be.instanceOf(ProcletNotFoundError);
    expect(await rejects(cluster.ref('p-never').call('x' as never))).to.be.instanceOf(ProcletNotFoundError);
  });

  it('reports an unregistered type on the hosting node with UnknownTypeError', async () => {
    const fake = { ...CounterType, name: 'test.never.registered', module: undefined };
    const e = await rejects(cluster.create(fake, [], { node: 'n1' }));
    expect(e).to.be.instanceOf(UnknownTypeError);
    expect(e.message).to.contain('test.never.registered').and.contain('n1');
  });
});

describe('calls — the codec is told when a frame holds no binary data', () => {
  /** A V8Codec that records, for each frame it encodes, whether it was called plain and whether the value truly is. */
  class SpyCodec extends V8Codec {
    readonly seen: Array<{ plain: boolean; truly: boolean }> = [];
    override encode(value: unknown, plain = false): ReturnType<V8Codec['encode']> {
      if (Array.isArray(value)) this.seen.push({ plain, truly: isPlain(value) });
      return super.encode(value);
    }
  }
  function isPlain(v: unknown): boolean {
    if (v === null || typeof v !== 'object') return true;
    return Array.isArray(v) && v.every(isPlain);
  }

  it('calls a frame plain only when it is: primitive arguments and results, not typed arrays or objects', async () => {
    const codec = new SpyCodec();
    const cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '64MiB' }, { cpus: 0, memory: '64MiB' }], codec });
    try {
      const ref = await cluster.create(CounterType, [], { node: 'n1' });
      codec.seen.length = 0;
      await Promise.all(Array.from({ length: 5 }, () => ref.call('add', 1)));
      expect(codec.seen.some((f) => f.plain)).to.equal(true);
      await ref.call('echo', new Float64Array(8));
      await Promise.all([ref.call('add', 1), ref.call('echo', { a: [1, new Uint8Array(4)] }), ref.call('add', 2)]);
      await ref.call('echo', 'text');
      // Never plain when it is not; and the frames of primitives were plain.
      expect(codec.seen.filter((f) => f.plain && !f.truly)).to.deep.equal([]);
      expect(codec.seen.some((f) => !f.truly)).to.equal(true);
    } finally {
      await cluster.close();
    }
  });
});

describe('options — validated at the call, naming the option', () => {
  it('rejects bad cluster options', async () => {
    await rejects(Cluster.start({ nodes: [] })).then((e) => expect(e.message).to.contain('options.nodes'));
    await rejects(Cluster.start({ nodes: [{ cpus: -1, memory: '1MiB' }] })).then((e) => {
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.contain('options.nodes[0].cpus').and.contain('-1');
    });
    await rejects(Cluster.start({ nodes: [{ cpus: 1, memory: 'much' }] })).then((e) => expect(e.message).to.contain('options.nodes[0].memory'));
    await rejects(Cluster.start(undefined as never)).then((e) => expect(e).to.be.instanceOf(TypeError));
  });

  it('rejects bad create and migrate arguments', async () => {
    const cluster = await Cluster.start({ nodes: [{ cpus: 0, memory: '1MiB' }] });
    try {
      await rejects(cluster.create(CounterType, 'x' as never)).then((e) => expect(e.message).to.contain('args must be an array'));
      await rejects(cluster.create(CounterType, [], { size: 'huge' })).then((e) => expect(e.message).to.contain('options.size'));
      await rejects(cluster.create(CounterType, [], { node: 'n9' })).then((e) => expect(e.message).to.contain("no node 'n9'"));
      const ref = await cluster.create(CounterType, []);
      await rejects(cluster.migrate(ref, '')).then((e) => expect(e).to.be.instanceOf(TypeError));
      expect(() => defineProclet('', class {})).to.throw(TypeError);
      expect(() => defineProclet('test.Counter', class {})).to.throw(/already registered/);
    } finally {
      await cluster.close();
    }
  });
});
