/**
 * What sibling `@quicksand/*` packages need from the queue and users must not touch.
 * No stability promise.
 *
 * @internal
 * @packageDocumentation
 */
/** @internal */
export { approxBytes } from './sizes.js';
