/**
 * The real network for Quicksand: a WebSocket transport with challenge-response
 * authentication, heartbeats and frame limits; a msgpackr codec; the `quicksand node`
 * daemon; and `LocalCluster`, which starts daemons as child processes on loopback and
 * returns a cluster with the same API as the in-process one.
 *
 * @example
 * ```ts
 * import { LocalCluster } from '@quicksand/net';
 *
 * const cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '1GiB' }, { cpus: 3, memory: '64MiB' }] });
 * const counter = await cluster.create(CounterType, []); // CounterType from defineProclet(..., { module: import.meta.url })
 * await counter.call('add', 1);                          // a real RPC over loopback
 * await cluster.close();                                 // every daemon ends
 * ```
 *
 * @packageDocumentation
 */
export { LocalCluster } from './local-cluster.js';
export { connect } from './client.js';
export type { ConnectOptions } from './client.js';
export type { LocalClusterOptions, LocalNodeSpec } from './local-cluster.js';
export { startNode } from './node.js';
export type { NodeOptions, QuicksandNode } from './node.js';
export { MsgpackCodec } from './codec.js';
