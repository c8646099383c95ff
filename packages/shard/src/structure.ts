/**
 * Creating, opening and destroying a sharded structure by name.
 *
 * Semantics: `createStructure` creates the index and the first shard, then binds the
 * name in the controller's name directory; if the name is taken it destroys what it
 * created and fails, so exactly one structure holds a name. `openStructure` finds the
 * index by name and checks the kind. `destroyStructure` destroys every shard, then the
 * index (which drops the name).
 */
import { InvalidArgumentError } from '@quicksand/core';
import type { Cluster } from '@quicksand/core';
import { bindName, checkString, lookupName } from '@quicksand/core/internal';
import { ShardClient } from './client.js';
import { ShardIndexType } from './index-proclet.js';
import type { ShardConfig } from './options.js';
import type { ShardType } from './shard-base.js';

/** @internal Where to put a new structure. */
export interface PlacementOptions {
  /** Node of the index and the first shard; later shards go where memory is free. */
  node?: string;
}

/** @internal */
export async function createStructure(
  cluster: Cluster,
  cfg: ShardConfig,
  shardType: ShardType,
  placement: PlacementOptions = {},
): Promise<ShardClient> {
  checkString(cfg.name, 'name');
  const where = placement.node === undefined ? {} : { node: placement.node };
  if ((await lookupName(cluster, cfg.name)) !== null) throw exists(cfg);
  const index = await cluster.create(ShardIndexType, [cfg], where);
  try {
    const first = await cluster.create(shardType, [index.id, cfg, 0, cfg.space, 1], where);
    await index.call('init', first.id);
    const holder = await bindName(cluster, cfg.name, index);
    if (holder !== index.id) throw exists(cfg);
  } catch (e) {
    await index.call('retireAll').catch(() => undefined);
    await cluster.destroy(index).catch(() => undefined);
    throw e;
  }
  return ShardClient.attach(cluster, index.id);
}

/** @internal */
export async function openStructure(cluster: Cluster, name: string, kind: string): Promise<ShardClient> {
  checkString(name, 'name');
  const id = await lookupName(cluster, name);
  if (id === null) throw new InvalidArgumentError(`there is no structure named '${name}' in the cluster; create it first`);
  const client = await ShardClient.attach(cluster, id);
  if (client.cfg.kind !== kind) throw new InvalidArgumentError(`'${name}' is a ${client.cfg.kind}, not a ${kind}`);
  return client;
}

/** @internal */
export async function destroyStructure(client: ShardClient): Promise<void> {
  await client.index.call('retireAll');
  await client.cluster.destroy(client.index);
  client.close();
}

function exists(cfg: ShardConfig): InvalidArgumentError {
  return new InvalidArgumentError(`a structure named '${cfg.name}' already exists in the cluster; open it, or pick another name`);
}
