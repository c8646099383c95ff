/**
 * The controller's name directory: structures (a sharded vector, a map) are opened by
 * name from any node, so a name must map to one proclet cluster-wide.
 *
 * Semantics: `bindName` is first-wins: it binds a name only when it is free or bound to
 * a proclet that no longer exists, and tells the caller who holds it. A binding is
 * dropped when its proclet is destroyed or lost with its node.
 *
 * Not handled: names survive only as long as the controller (no fail-over yet).
 */
import type { Cluster } from './cluster.js';
import type { Ref } from './ref.js';
import { CONTROLLER_ID } from './runtime.js';

/**
 * @internal Binds `name` to `ref` unless another live proclet holds it; resolves with
 * the id the name is bound to afterwards (`ref.id` when this call won).
 */
export async function bindName(cluster: Cluster, name: string, ref: Ref | string): Promise<string> {
  const id = typeof ref === 'string' ? ref : ref.id;
  return (await cluster.runtime.invoke(CONTROLLER_ID, 'bindName', [name, id])) as string;
}

/** @internal The id of the proclet bound to `name`, or null. */
export async function lookupName(cluster: Cluster, name: string): Promise<string | null> {
  return (await cluster.runtime.invoke(CONTROLLER_ID, 'lookupName', [name])) as string | null;
}

/** @internal Unbinds `name` if it is bound to `ref`; resolves true when it was. */
export async function unbindName(cluster: Cluster, name: string, ref: Ref | string): Promise<boolean> {
  const id = typeof ref === 'string' ? ref : ref.id;
  return (await cluster.runtime.invoke(CONTROLLER_ID, 'unbindName', [name, id])) as boolean;
}
