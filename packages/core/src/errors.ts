/**
 * Errors: one base class with a stable `code`, subclasses that mark what is retryable,
 * a `Symbol.for` brand so checks work across worker threads and duplicate installs,
 * and a wire form `{ code, name, message, data }` that is rebuilt on the other side.
 *
 * The code table is in the core README; codes never change meaning once published.
 */

const BRAND = Symbol.for('quicksand.error');

/** Every stable error code Quicksand produces. */
export type ErrorCode =
  | 'QS_ERR_INVALID_ARGUMENT'
  | 'QS_ERR_MOVED'
  | 'QS_ERR_NODE_LOST'
  | 'QS_ERR_PROCLET_NOT_FOUND'
  | 'QS_ERR_NO_SUCH_METHOD'
  | 'QS_ERR_UNKNOWN_TYPE'
  | 'QS_ERR_MEMORY_BUDGET'
  | 'QS_ERR_CODEC'
  | 'QS_ERR_CLOSED'
  | 'QS_ERR_TIMEOUT'
  | 'QS_ERR_MIGRATION'
  | 'QS_ERR_TASK'
  | 'QS_ERR_PROTOCOL'
  | 'QS_ERR_AUTH'
  | 'QS_ERR_REMOTE'
  | 'QS_ERR_CAPACITY'
  | 'QS_ERR_STALE'
  | 'QS_ERR_ABORTED';

/** Options accepted by every {@link QuicksandError} constructor. */
export interface QuicksandErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** Structured details (node ids, proclet ids, limits) that travel with the error. */
  data?: Record<string, unknown>;
}

/**
 * Base class of every error Quicksand throws on purpose.
 *
 * @example
 * ```ts
 * try { await ref.call('get', 1); }
 * catch (e) { if (isQuicksandError(e) && e.code === 'QS_ERR_NODE_LOST') retryElsewhere(); }
 * ```
 */
export class QuicksandError extends Error {
  /** Stable machine-readable code, for example `QS_ERR_NODE_LOST`. */
  readonly code: ErrorCode;
  /** Structured details: which node, which proclet, which limit. */
  readonly data: Record<string, unknown>;
  /** Whether repeating the same operation later may succeed. */
  get retryable(): boolean {
    return false;
  }

  constructor(code: ErrorCode, message: string, options: QuicksandErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data ?? {};
    Object.defineProperty(this, BRAND, { value: true });
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** An argument or option was invalid (thrown as `TypeError`/`RangeError` for options). */
export class InvalidArgumentError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_INVALID_ARGUMENT', message, options);
  }
}

/** A node stopped answering (crash, kill, network loss); calls to its proclets fail fast. */
export class NodeLostError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_NODE_LOST', message, options);
  }
}

/** The proclet does not exist (never created, destroyed, or lost with its node). */
export class ProcletNotFoundError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_PROCLET_NOT_FOUND', message, options);
  }
}

/** A call named a method that the proclet's type does not expose. */
export class NoSuchMethodError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_NO_SUCH_METHOD', message, options);
  }
}

/** A node was asked to host a proclet type it cannot load. */
export class UnknownTypeError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_UNKNOWN_TYPE', message, options);
  }
}

/** Placing or growing a proclet would exceed a node's (or the cluster's) memory budget. */
export class MemoryBudgetError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_MEMORY_BUDGET', message, options);
  }
}

/** A value could not be encoded or decoded by the codec (functions, symbols, cycles...). */
export class CodecError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_CODEC', message, options);
  }
}

/** The cluster, node or structure was closed. */
export class ClosedError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_CLOSED', message, options);
  }
}

/** An operation did not finish in its time limit. Retryable. */
export class TimeoutError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_TIMEOUT', message, options);
  }
  override get retryable(): boolean {
    return true;
  }
}

/** A migration could not be carried out; the proclet stays where it was. Retryable. */
export class MigrationError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_MIGRATION', message, options);
  }
  override get retryable(): boolean {
    return true;
  }
}

/** A task failed on a worker thread. */
export class TaskError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_TASK', message, options);
  }
}

/** A peer broke the wire protocol (malformed or oversized frame). */
export class ProtocolError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_PROTOCOL', message, options);
  }
}

/** A peer failed authentication. */
export class AuthError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_AUTH', message, options);
  }
}

/** The cluster has no node with the CPU or memory an operation needs. */
export class CapacityError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_CAPACITY', message, options);
  }
}

/** An operation was cancelled by its `AbortSignal`. */
export class AbortedError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_ABORTED', message, options);
  }
}

/**
 * An error thrown by user code on another node whose class is not registered with
 * {@link registerErrorClass}. `name` and `message` are the original ones.
 */
export class RemoteError extends QuicksandError {
  readonly #name: string;
  constructor(name: string, message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_REMOTE', message, options);
    this.#name = name;
  }
  override get name(): string {
    return this.#name;
  }
}

/** Internal: the call reached a node that no longer holds the proclet. Retried by the runtime. */
export class MovedError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_MOVED', message, options);
  }
  override get retryable(): boolean {
    return true;
  }
}

/** Internal: a shard no longer owns the key; the sharding library refreshes its routes and retries. */
export class StaleRouteError extends QuicksandError {
  constructor(message: string, options?: QuicksandErrorOptions) {
    super('QS_ERR_STALE', message, options);
  }
  override get retryable(): boolean {
    return true;
  }
}

/** True for any Quicksand error, also one created by another copy of this package or thread. */
export function isQuicksandError(e: unknown): e is QuicksandError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** True when `e` is a Quicksand error with the given code. */
export function hasErrorCode(e: unknown, code: ErrorCode): e is QuicksandError {
  return isQuicksandError(e) && e.code === code;
}

type QsCtor = new (message: string, options?: QuicksandErrorOptions) => QuicksandError;

const byCode: Partial<Record<ErrorCode, QsCtor>> = {
  QS_ERR_INVALID_ARGUMENT: InvalidArgumentError,
  QS_ERR_MOVED: MovedError,
  QS_ERR_NODE_LOST: NodeLostError,
  QS_ERR_PROCLET_NOT_FOUND: ProcletNotFoundError,
  QS_ERR_NO_SUCH_METHOD: NoSuchMethodError,
  QS_ERR_UNKNOWN_TYPE: UnknownTypeError,
  QS_ERR_MEMORY_BUDGET: MemoryBudgetError,
  QS_ERR_CODEC: CodecError,
  QS_ERR_CLOSED: ClosedError,
  QS_ERR_TIMEOUT: TimeoutError,
  QS_ERR_MIGRATION: MigrationError,
  QS_ERR_TASK: TaskError,
  QS_ERR_PROTOCOL: ProtocolError,
  QS_ERR_AUTH: AuthError,
  QS_ERR_CAPACITY: CapacityError,
  QS_ERR_STALE: StaleRouteError,
  QS_ERR_ABORTED: AbortedError,
};

type AnyErrorCtor = new (message?: string) => Error;
const builtins: Record<string, AnyErrorCtor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};
const userClasses = new Map<string, AnyErrorCtor>();

/**
 * Registers an error class so that instances thrown on another node are rebuilt as that
 * class (matched by `name`). Register it in every process, at module load.
 */
export function registerErrorClass(ctor: new (message: string) => Error): void {
  if (typeof ctor !== 'function') throw new TypeError('registerErrorClass expects a class');
  userClasses.set(ctor.name, ctor as AnyErrorCtor);
}

/** The wire form of an error. */
export interface WireError {
  code: string;
  name: string;
  message: string;
  data?: Record<string, unknown>;
  stack?: string;
}

/** Turns any thrown value into its wire form. */
export function toWireError(e: unknown): WireError {
  if (isQuicksandError(e)) {
    return { code: e.code, name: e.name, message: e.message, data: sanitizeData(e.data), stack: e.stack };
  }
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      code: typeof code === 'string' ? code : '',
      name: e.name,
      message: e.message,
      stack: e.stack,
    };
  }
  return { code: '', name: 'Error', message: `non-Error value thrown: ${String(e)}` };
}

function sanitizeData(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else if (Array.isArray(v)) out[k] = v.map((x: unknown) => (typeof x === 'string' || typeof x === 'number' ? x : typeof x));
    else out[k] = typeof v;
  }
  return out;
}

/**
 * Rebuilds an error from its wire form: the same Quicksand class by code, the same
 * built-in or registered class by name, else a {@link RemoteError}. `where` names the
 * node and proclet it came from; it is added to the message and to `data`.
 */
export function fromWireError(w: unknown, where?: { node?: string; proclet?: string; method?: string }): Error {
  if (typeof w !== 'object' || w === null) {
    return new ProtocolError(`malformed error on the wire: ${String(w)}`);
  }
  const wire = w as Partial<WireError>;
  const message = typeof wire.message === 'string' ? wire.message : '';
  const name = typeof wire.name === 'string' ? wire.name : 'Error';
  const code = typeof wire.code === 'string' ? wire.code : '';
  const suffix = where?.node === undefined ? '' : ` [on node ${where.node}${where.proclet ? `, proclet ${where.proclet}` : ''}${where.method ? `.${where.method}` : ''}]`;
  const data = { ...(typeof wire.data === 'object' && wire.data !== null ? wire.data : {}), ...where };
  let err: Error;
  const qs = byCode[code as ErrorCode];
  if (qs !== undefined) {
    err = new qs(message.includes('[on node ') ? message : message + suffix, { data });
  } else {
    const ctor = userClasses.get(name) ?? builtins[name];
    if (ctor !== undefined) {
      err = new ctor(message + suffix);
      if (code) (err as { code?: string }).code = code;
      Object.assign(err, { node: where?.node, proclet: where?.proclet });
    } else {
      err = new RemoteError(name, message + suffix, { data });
    }
  }
  if (typeof wire.stack === 'string') {
    err.stack = `${err.stack ?? ''}\n    --- remote stack${where?.node ? ` (node ${where.node})` : ''} ---\n${wire.stack}`;
  }
  return err;
}
