/**
 * The Quicksand kernel: clusters of nodes, resource proclets (memory and compute), refs
 * that call locally or over the wire, migration with exactly-once calls, the controller's
 * directory and stats, distributed pointers, and the error model. No runtime dependencies.
 *
 * @example
 * ```ts
 * import { Cluster, defineProclet } from '@quicksand/core';
 *
 * class Counter {
 *   n = 0;
 *   add(by: number) { this.n += by; return this.n; }
 * }
 * const CounterType = defineProclet('example.Counter', Counter, { module: import.meta.url });
 *
 * const cluster = await Cluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 1, memory: '64MiB' }] });
 * const counter = await cluster.create(CounterType, [], { node: 'n1' });
 * await counter.call('add', 2);          // RPC to n1 through the codec
 * await cluster.migrate(counter, 'n0');  // now a local call: a function call plus one promise
 * console.log(await counter.call('add', 1), await cluster.stats());
 * await cluster.close();
 * ```
 *
 * @packageDocumentation
 */
export { Cluster } from './cluster.js';
export type { ClusterOptions, NodeSpec, CreateOptions, AllocOptions, ClusterEvents } from './cluster.js';
export { Ref } from './ref.js';
export type { MethodName, MethodArgs, MethodResult } from './ref.js';
export { defineProclet, contextOf } from './proclet.js';
export type { ProcletType, ProcletTypeOptions, ProcletKind, ProcletContext } from './proclet.js';
export { RemotePtr } from './pointer.js';
export type { MigrationEvent, NodeLostEvent, NodeJoinedEvent, CapacityEvent, DrainResult, ClusterStats, NodeStats, ProcletInfo } from './controller.js';
export { V8Codec, frameBytes, joinFrame } from './codec.js';
export type { Codec, Frame } from './codec.js';
export { InProcessNetwork } from './transport.js';
export type { Transport, TransportHandlers } from './transport.js';
export { taskSpec, taskFromFunction } from './workers.js';
export type { TaskSpec, RunTaskOptions } from './workers.js';
export { parseSize, formatBytes } from './options.js';
export type { Size } from './options.js';
export {
  QuicksandError,
  InvalidArgumentError,
  NodeLostError,
  ProcletNotFoundError,
  NoSuchMethodError,
  UnknownTypeError,
  MemoryBudgetError,
  CodecError,
  ClosedError,
  TimeoutError,
  MigrationError,
  TaskError,
  ProtocolError,
  AuthError,
  CapacityError,
  AbortedError,
  RemoteError,
  StaleRouteError,
  isQuicksandError,
  hasErrorCode,
  registerErrorClass,
} from './errors.js';
export type { ErrorCode, QuicksandErrorOptions } from './errors.js';
