/**
 * Proclet types of the examples. Node processes import this module to host them, so it
 * has no top-level side effects.
 */
import { contextOf, defineProclet } from '@quicksand/core';

/** Tells which node and process it lives on (pin one to each node). */
export class WhoAmI {
  where(): [node: string, pid: number] {
    return [contextOf(this).node, process.pid];
  }
}
export const WhoAmIType = defineProclet('examples.WhoAmI', WhoAmI, { module: import.meta.url });
