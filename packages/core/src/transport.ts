import { frameBytes } from './codec.js';
import type { Frame } from './codec.js';

/**
 * The transport moves encoded frames between nodes. Core ships an in-process network for
 * tests and single-process clusters; `@quicksand/net` ships the WebSocket one.
 *
 * Semantics callers rely on: frames from one sender to one receiver arrive in order and
 * at most once; a peer that stops answering is reported once through `peerLost`, after
 * which frames to it are dropped.
 */

/** Callbacks a runtime installs on its transport. */
export interface TransportHandlers {
  /** One frame from `from`: the bytes its sender passed to `send`, chunked or joined. */
  frame(from: string, frame: Frame): void;
  /**
   * `peer` is gone. `left` is true when it left cleanly (it closed its runtime first, so a
   * call it had not answered was never run there); false for a crash, a kill, or silence.
   */
  peerLost(peer: string, reason: string, left: boolean): void;
}

/** Moves frames between nodes. */
export interface Transport {
  /** This endpoint's node id. */
  readonly self: string;
  /** Installs the receiver; called once, before any `send`. */
  listen(handlers: TransportHandlers): void;
  /**
   * Queues one frame (one buffer, or chunks to send back to back as one message) for
   * `to`. Never throws for a lost peer: the loss is reported through `peerLost`.
   */
  send(to: string, frame: Frame): void;
  /** Drops the connection with `peer` because it broke the protocol; logged with `reason`. */
  disconnect(peer: string, reason: string): void;
  /** Largest frame the transport carries, in bytes; larger messages fail before sending. */
  readonly maxFrameBytes?: number;
  /** Leaves the network. */
  close(): Promise<void>;
}

/**
 * An in-memory network joining several in-process nodes. Frames are delivered on a later
 * turn of the event loop, in order, as bytes (the codec runs on every hop), and a frame
 * that references the sender's buffers is copied once, as a wire would.
 */
export class InProcessNetwork {
  readonly #endpoints = new Map<string, InProcessTransport>();
  readonly #queue: Array<[InProcessTransport, string, Frame]> = [];
  #scheduled = false;
  /** Frames delivered so far (for tests and stats). */
  delivered = 0;
  /** Bytes delivered so far. */
  bytes = 0;

  /**
   * Creates the endpoint for `node`.
   * @throws RangeError when the id is taken.
   */
  endpoint(node: string): Transport {
    if (this.#endpoints.has(node)) throw new RangeError(`node id '${node}' is already on this network`);
    const t = new InProcessTransport(node, this);
    this.#endpoints.set(node, t);
    return t;
  }

  /** Emulates a crash of `node`: its frames are dropped and every other endpoint is told. */
  kill(node: string, reason = 'killed'): void {
    const t = this.#endpoints.get(node);
    if (t === undefined) return;
    this.#endpoints.delete(node);
    t.dead = true;
    for (const other of this.#endpoints.values()) {
      setImmediate(() => other.handlers?.peerLost(node, reason, false));
    }
  }

  /** @internal */
  post(from: InProcessTransport, to: string, bytes: Frame): void {
    const target = this.#endpoints.get(to);
    if (target === undefined || from.dead) {
      if (!from.dead && !from.reportedLost.has(to)) {
        from.reportedLost.add(to);
        setImmediate(() => from.handlers?.peerLost(to, `node ${to} is not on this network`, from.left.has(to)));
      }
      return;
    }
    // A chunked frame references the sender's buffers; a wire would copy them, so do we:
    // the receiver must never share memory with the sender.
    this.#queue.push([target, from.self, Array.isArray(bytes) ? copyFrame(bytes) : bytes]);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#deliver);
    }
  }

  #deliver = (): void => {
    this.#scheduled = false;
    const batch = this.#queue.splice(0);
    for (const [target, from, bytes] of batch) {
      if (target.dead) continue;
      this.delivered++;
      this.bytes += frameBytes(bytes);
      target.handlers?.frame(from, bytes);
    }
  };

  /** @internal A clean departure: the node closed its runtime; peers are told it left. */
  remove(node: string): void {
    const t = this.#endpoints.get(node);
    if (t === undefined) return;
    t.dead = true;
    this.#endpoints.delete(node);
    for (const other of this.#endpoints.values()) {
      other.left.add(node);
      setImmediate(() => other.handlers?.peerLost(node, 'left the network', true));
    }
  }
}

class InProcessTransport implements Transport {
  handlers: TransportHandlers | undefined;
  dead = false;
  readonly reportedLost = new Set<string>();
  /** Peers that left cleanly. */
  readonly left = new Set<string>();
  constructor(
    readonly self: string,
    readonly network: InProcessNetwork,
  ) {}
  listen(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  send(to: string, frame: Frame): void {
    this.network.post(this, to, frame);
  }
  disconnect(peer: string, reason: string): void {
    process.emitWarning(`quicksand: node ${this.self} dropped in-process peer ${peer}: ${reason}`);
  }
  close(): Promise<void> {
    this.network.remove(this.self);
    return Promise.resolve();
  }
}

function copyFrame(chunks: Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? Uint8Array.prototype.slice.call(chunks[0]!) : Buffer.concat(chunks);
}
