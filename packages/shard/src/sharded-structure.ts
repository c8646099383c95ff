/**
 * What every sharded structure offers besides its own operations: its name, what its
 * shards hold, clearing, destroying, and (for tests and operators) forced splits and
 * merges.
 */
import type { MergeEvent, SplitEvent } from './index-proclet.js';
import type { ShardClient } from './client.js';
import type { ShardStat } from './protocol.js';
import { destroyStructure } from './structure.js';

/**
 * Base class of `ShardedVector`, `ShardedMap` and `ShardedSet`: one structure to the user,
 * shards of a bounded size underneath.
 */
export abstract class ShardedStructure {
  /** @internal */
  protected readonly c: ShardClient;

  /** @internal */
  protected constructor(client: ShardClient) {
    this.c = client;
  }

  /** The structure's name, unique in the cluster. */
  get name(): string {
    return this.c.cfg.name;
  }

  /** The most bytes a shard holds before it splits. */
  get maxShardBytes(): number {
    return this.c.cfg.maxShardBytes;
  }

  /**
   * What each shard holds, in key order (index order for a vector, hash order for a map
   * or set): its range, element count, bytes and node.
   */
  shards(): Promise<ShardStat[]> {
    return this.c.stats();
  }

  /** Removes every element; one empty shard remains. */
  async clear(): Promise<void> {
    await this.c.index.call('reset');
  }

  /** Destroys the structure and its shards; its name becomes free, later calls fail with ClosedError. */
  async destroy(): Promise<void> {
    await destroyStructure(this.c);
  }

  /**
   * @internal Splits shard `shard` now, even below its bound (it needs two elements or
   * more). Resolves with the event, or null when nothing was split.
   */
  splitShard(shard: string): Promise<SplitEvent | null> {
    return this.c.index.call('split', shard, true);
  }

  /** @internal Merges shard `left` with its right neighbour now, whatever their sizes. */
  mergeShards(left: string): Promise<MergeEvent | null> {
    return this.c.index.call('merge', left, true);
  }

  /** @internal The route cache (for sibling packages such as the thread pool). */
  get client(): ShardClient {
    return this.c;
  }
}
