import { expect } from 'chai';
import { DEFAULT_TARGET_MIGRATION_MS, MIGRATION_BYTES_PER_MS } from '@quicksand/shard';
import { resolveBatch, resolvePrefetch, resolveSharding } from '@quicksand/shard/internal';

describe('sharding options — defaults and validation', () => {
  it('derives the default shard bound from the target migration time', () => {
    const cfg = resolveSharding('x', 'map', 2 ** 32, undefined);
    expect(cfg.maxShardBytes).to.equal(DEFAULT_TARGET_MIGRATION_MS * MIGRATION_BYTES_PER_MS);
    expect(cfg.maxShardBytes).to.equal(512 * 1024);
    expect(cfg.lowWaterBytes).to.equal(128 * 1024);
    expect(resolveSharding('x', 'map', 1, { targetMigrationMs: 4 }).maxShardBytes).to.equal(2 * 1024 * 1024);
    expect(resolveSharding('x', 'map', 1, { maxShardBytes: '1MiB', targetMigrationMs: 4 }).maxShardBytes).to.equal(1024 * 1024);
  });

  it('names the bad option in its error', () => {
    expect(() => resolveSharding('x', 'map', 1, { maxShardBytes: 'big' })).to.throw(RangeError, 'options.maxShardBytes');
    expect(() => resolveSharding('x', 'map', 1, { maxShardBytes: 100 })).to.throw(RangeError, 'at least 1024');
    expect(() => resolveSharding('x', 'map', 1, { autoSplit: 'yes' as never })).to.throw(TypeError, 'options.autoSplit must be a boolean');
    expect(() => resolveSharding('x', 'map', 1, 5 as never)).to.throw(TypeError, 'options must be an object');
    expect(() => resolveBatch({ inFlightPerShard: 0 })).to.throw(RangeError, 'options.inFlightPerShard');
    expect(() => resolveBatch({ batchBytes: -1 })).to.throw(RangeError, 'options.batchBytes');
    expect(() => resolvePrefetch({ window: 1.5 })).to.throw(TypeError, 'options.window');
    expect(() => resolvePrefetch({ initialBlockBytes: '1MiB', blockBytes: '64KiB' })).to.throw(RangeError, 'options.initialBlockBytes');
  });

  it('returns the frozen defaults when nothing is set', () => {
    expect(resolveBatch(undefined)).to.deep.equal({ batchBytes: 16 * 1024, inFlightPerShard: 8 });
    expect(resolvePrefetch({})).to.deep.equal({ initialBlockBytes: 4096, blockBytes: 65536, window: 4 });
    expect(resolvePrefetch({ blockBytes: 1000 })).to.deep.equal({ initialBlockBytes: 1000, blockBytes: 1000, window: 4 });
  });
});
