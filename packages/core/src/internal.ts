/**
 * What sibling `@quicksand/*` packages need from the kernel and users must not touch:
 * the runtime, system proclets, wire constants and test hooks. No stability promise.
 *
 * @internal
 * @packageDocumentation
 */
/** @internal */
export { Runtime, CONTROLLER_ID, agentId, MSG_CALL, MSG_CALLS, MSG_OK, MSG_OKS, MSG_ERR, MSG_MOVED, MSG_EVENT } from './runtime.js';
export type { RuntimeOptions, NodeBudget, NodeUsage, MigrateOutResult } from './runtime.js';
/** @internal */
export { attachAgent, attachController, viewFrom, killInProcessNode } from './cluster.js';
export type { Closer } from './cluster.js';
/** @internal */
export { Controller, NodeAgent } from './controller.js';
export type { NodeRecord, CreateRequest } from './controller.js';
/** @internal */
export { toWireError, fromWireError, MovedError } from './errors.js';
export type { WireError } from './errors.js';
/** @internal */
export { checkInt, checkNumber, checkString, checkOptions, describe } from './options.js';
/** @internal */
export { WorkerPool } from './workers.js';
/** @internal */
export { checkCoreList, checkTaskset, pinProcess, pinnableCores, threadCores } from './affinity.js';
/** @internal */
export { primitivesOnly, releaseFrame } from './codec.js';
/** @internal */
export { PendingTable } from './pending.js';
export type { Pending } from './pending.js';
/** @internal */
export { Slot } from './slot.js';
/** @internal */
export { bindName, lookupName, unbindName } from './names.js';
/** @internal */
export { rangeTask, YIELDED_BEFORE_START } from './range-ops.js';
export { addTransferables, ownBuffer } from './task-loader.js';
export type { RangeOp, RangeInput, RangeOutput } from './range-ops.js';
