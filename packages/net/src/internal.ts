/**
 * Internals of `@quicksand/net` for tests and sibling packages. No stability promise.
 *
 * @internal
 * @packageDocumentation
 */
/** @internal */
export { WsTransport } from './transport.js';
export type { WsTransportOptions } from './transport.js';
/** @internal */
export { localNodes, localSecret, NODE_MALLOC } from './local-cluster.js';
export type { LocalNode } from './local-cluster.js';
/** @internal */
export { WIRE_PROTOCOL, mac, nonce, secretBytes } from './auth.js';
/** @internal */
export { parseHostPort } from './node.js';
