/**
 * The codec turns messages into bytes and back. Every message between two nodes goes
 * through it, also in the in-process mode, so a value that cannot cross a wire fails in
 * a unit test exactly as it would between machines.
 */
import { DefaultDeserializer, DefaultSerializer, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CodecError } from './errors.js';
import { ownBuffer } from './task-loader.js';

/**
 * Encoded bytes: one buffer, or a list of chunks whose concatenation is the same frame
 * (a small header followed by large typed arrays sent without copying). Transports send
 * the chunks in order as one message; the receiver may decode either form.
 */
export type Frame = Uint8Array | Uint8Array[];

/** Total bytes of a frame. */
export function frameBytes(frame: Frame): number {
  if (!Array.isArray(frame)) return frame.byteLength;
  let n = 0;
  for (const c of frame) n += c.byteLength;
  return n;
}

/** Joins a chunked frame into one buffer (one copy). */
export function joinFrame(frame: Frame): Uint8Array {
  if (!Array.isArray(frame)) return frame;
  if (frame.length === 1) return frame[0]!;
  return Buffer.concat(frame);
}

/** @internal Whether `xs` holds primitives only (an argument list of numbers and strings, mostly). */
export function primitivesOnly(xs: unknown[]): boolean {
  for (let i = 0; i < xs.length; i++) {
    const v: unknown = xs[i];
    if (v !== null && typeof v === 'object') return false;
  }
  return true;
}

/**
 * Frees the memory of a frame's large chunks once the frame has been delivered and its
 * sender keeps nothing of it: the state of a proclet that migrated away, when its type
 * says (`transferState`) that no caller holds its arrays. Each chunk of at
 * least 32 KiB that spans a whole (non-shared) `ArrayBuffer` is detached, as a transfer
 * list would detach it, and its memory goes back to the allocator at once rather than at
 * some later garbage collection. The next migration into this node then reuses that
 * memory instead of faulting in fresh pages (7 ms or so per 10 MiB on a VM). Views over
 * part of a buffer are left alone: the rest of the buffer may be in use.
 */
export function releaseFrame(frame: Frame): void {
  if (!Array.isArray(frame)) return;
  for (const c of frame) {
    const own = c.byteLength >= OUT_OF_BAND_MIN ? ownBuffer(c) : undefined;
    if (own !== undefined) freeNow(own);
  }
}

type Transfer = (this: ArrayBuffer, length?: number) => ArrayBuffer;
let transfer: Transfer | null | undefined;

/** Detaches `buffer` and frees its memory now (`ArrayBuffer.prototype.transfer(0)`). */
function freeNow(buffer: ArrayBuffer): void {
  if (transfer === undefined) transfer = findTransfer();
  if (transfer !== null) transfer.call(buffer, 0);
  // Without it, detach anyway: the memory goes at the next collection of the clone.
  else structuredClone(buffer, { transfer: [buffer] });
}

/**
 * `ArrayBuffer.prototype.transfer` (Node 21 and later). Node 20's V8 has it behind a
 * harmony flag: a context created while the flag is on gets it, and it works on this
 * context's buffers. The flag is turned off again at once.
 */
function findTransfer(): Transfer | null {
  const native = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer;
  if (typeof native === 'function') return native;
  try {
    setFlagsFromString('--harmony-rab-gsab-transfer');
    const fn: unknown = runInNewContext('ArrayBuffer.prototype.transfer');
    setFlagsFromString('--no-harmony-rab-gsab-transfer');
    return typeof fn === 'function' ? (fn as Transfer) : null;
  } catch {
    return null;
  }
}

/**
 * Encodes and decodes messages. Implementations must round-trip `null`, booleans,
 * numbers, strings, arrays, plain objects, `Uint8Array` and the other typed arrays, and
 * throw {@link CodecError} for values they cannot carry (functions, symbols). Class
 * instances arrive as plain objects.
 */
export interface Codec {
  /** A short name used in logs and errors, e.g. `'v8'` or `'msgpackr'`. */
  readonly name: string;
  /**
   * Encodes one value. Large typed arrays may be referenced by the returned chunks rather
   * than copied: the caller must not modify them until the frame is sent. `plain` is the
   * caller's word that the value is a primitive or an array whose elements are primitives
   * or such arrays, with no other object anywhere: a codec may then skip looking for
   * binary data in it.
   */
  encode(value: unknown, plain?: boolean): Frame;
  /** Decodes one value produced by {@link Codec.encode} on any node, chunked or joined. */
  decode(frame: Frame): unknown;
}

type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;
const VIEW_TYPES: ViewCtor[] = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, DataView, BigInt64Array, BigUint64Array, Buffer,
];

/** Views at least this large travel after the header instead of inside it. */
const OUT_OF_BAND_MIN = 32 * 1024;
/** First byte of a frame with out-of-band views (a plain v8 frame starts with 0xFF). */
const OOB_TAG = 0x01;

function viewIndex(v: ArrayBufferView): number {
  if (Buffer.isBuffer(v)) return 12;
  const i = VIEW_TYPES.indexOf(v.constructor as ViewCtor);
  return i;
}

class Ser extends DefaultSerializer {
  readonly oob: Uint8Array[] = [];
  oobBytes = 0;
  _writeHostObject(obj: object): void {
    if (!ArrayBuffer.isView(obj)) throw new TypeError('unserializable host object');
    const t = viewIndex(obj);
    if (t < 0) throw new TypeError(`unserializable typed array ${obj.constructor.name}`);
    const bytes = new Uint8Array(obj.buffer, obj.byteOffset, obj.byteLength);
    this.writeUint32(t);
    this.writeUint32(obj.byteLength);
    if (obj.byteLength >= OUT_OF_BAND_MIN) {
      this.writeUint32(1);
      this.oob.push(bytes);
      this.oobBytes += bytes.byteLength;
    } else {
      this.writeUint32(0);
      this.writeRawBytes(bytes);
    }
  }
}

class Des extends DefaultDeserializer {
  constructor(
    head: Buffer,
    readonly oob: Chunks,
  ) {
    super(head);
  }
  _readHostObject(): unknown {
    const ctor = VIEW_TYPES[this.readUint32()];
    const byteLength = this.readUint32();
    const oob = this.readUint32() === 1;
    if (ctor === undefined) throw new TypeError('unknown typed array kind');
    let buffer: ArrayBufferLike;
    let offset: number;
    if (oob) {
      const v = this.oob.take(byteLength);
      buffer = v.buffer;
      offset = v.byteOffset;
    } else {
      const at = (this as unknown as { _readRawBytes(n: number): number })._readRawBytes(byteLength);
      const head = (this as unknown as { buffer: Buffer }).buffer;
      buffer = head.buffer;
      offset = head.byteOffset + at;
    }
    const bpe = (ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    if (offset % bpe !== 0) {
      const copy = new Uint8Array(byteLength);
      copy.set(new Uint8Array(buffer, offset, byteLength));
      buffer = copy.buffer;
      offset = 0;
    }
    if (ctor === (Buffer as unknown)) return Buffer.from(buffer, offset, byteLength);
    return new ctor(buffer, offset, byteLength / bpe);
  }
}

/**
 * The default codec: Node's structured serializer (`node:v8`), with typed arrays of 32 KiB
 * or more carried after the header so that each crosses with one copy and is decoded as a
 * view, not a copy. No dependencies; carries `Map`, `Set`, `Date`, `BigInt` and typed
 * arrays. `@quicksand/net` brings a msgpackr codec for real networks.
 */
export class V8Codec implements Codec {
  readonly name = 'v8';

  encode(value: unknown): Frame {
    const s = new Ser();
    let head: Buffer;
    try {
      s.writeHeader();
      s.writeValue(value);
      head = s.releaseBuffer();
    } catch (e) {
      throw new CodecError(`the v8 codec cannot encode this value: ${(e as Error).message}. Only plain data (objects, arrays, strings, numbers, typed arrays, Map, Set) crosses between nodes; pass ids instead of functions or live objects`, { cause: e });
    }
    if (s.oob.length === 0) return head;
    const first = Buffer.allocUnsafe(5 + head.byteLength);
    first[0] = OOB_TAG;
    first.writeUInt32LE(head.byteLength, 1);
    first.set(head, 5);
    return [first, ...s.oob];
  }

  decode(frame: Frame): unknown {
    try {
      if (Array.isArray(frame)) {
        if (frame.length === 1) return this.#decodeJoined(asBuffer(frame[0]!));
        const first = asBuffer(frame[0]!);
        if (first[0] !== OOB_TAG || first.byteLength < 5) throw new RangeError('chunked frame without a header chunk');
        const len = first.readUInt32LE(1);
        if (5 + len !== first.byteLength) throw new RangeError('header chunk length mismatch');
        const d = new Des(first.subarray(5), new Chunks(frame.slice(1)));
        d.readHeader();
        return d.readValue();
      }
      return this.#decodeJoined(asBuffer(frame));
    } catch (e) {
      throw new CodecError(`the v8 codec cannot decode ${frameBytes(frame)} bytes: ${(e as Error).message}`, { cause: e });
    }
  }

  #decodeJoined(frame: Buffer): unknown {
    let head = frame;
    let rest = new Chunks([]);
    if (frame[0] === OOB_TAG) {
      if (frame.byteLength < 5) throw new RangeError('truncated frame');
      const len = frame.readUInt32LE(1);
      if (5 + len > frame.byteLength) throw new RangeError('header runs past the frame');
      head = frame.subarray(5, 5 + len);
      rest = new Chunks([frame.subarray(5 + len)]);
    }
    const d = new Des(head, rest);
    d.readHeader();
    return d.readValue();
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Out-of-band bytes, consumed in order, as views (no copy). */
class Chunks {
  #i = 0;
  #at = 0;
  constructor(readonly list: Uint8Array[]) {}
  take(n: number): Uint8Array {
    const c = this.list[this.#i];
    if (c === undefined) throw new RangeError('out-of-band view runs past the frame');
    if (this.#at + n > c.byteLength) throw new RangeError('out-of-band view runs past its chunk');
    const v = c.subarray(this.#at, this.#at + n);
    this.#at += n;
    if (this.#at === c.byteLength && this.list.length > this.#i + 1) {
      this.#i++;
      this.#at = 0;
    }
    return v;
  }
}
