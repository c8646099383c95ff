/** Test helpers: shared with every package's tests through `@quicksand/core/testing`. */
export { Deferred, eventually, rejects, rng, settle } from '@quicksand/core/testing';
