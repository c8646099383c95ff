/**
 * The msgpackr codec. Messages are packed with records (fast for arrays of similar
 * objects) and decoded with `mapsAsObjects`, the same options on every node. Typed arrays
 * keep their type (`moreTypes`).
 *
 * Large typed arrays (32 KiB or more) found near the top of a value, in small arrays and
 * objects up to six levels down (where migration state and bulk payloads sit), travel
 * out of band: the frame is a header chunk followed by the arrays themselves, so the
 * sender copies nothing and the receiver decodes views into the received bytes. Deeper or
 * inside large collections they are packed inline (correct, one more copy).
 *
 * Wire form of a frame with out-of-band arrays: `0xC1` (a byte MessagePack never uses),
 * u32 LE header length, the header, then the arrays back to back.
 */
import { Packr, Unpackr, addExtension } from 'msgpackr';
import { CodecError, frameBytes } from '@quicksand/core';
import type { Codec, Frame } from '@quicksand/core';
import { primitivesOnly } from '@quicksand/core/internal';

const OUT_OF_BAND_MIN = 32 * 1024;
const OOB_TAG = 0xc1;
const EXT_TYPE = 0x71;
/**
 * Scan at most this many entries of an array or object for large typed arrays, this many
 * levels down. The top level (a frame's list of messages) is scanned whole, and a
 * message's arrays up to COLUMN_WIDTH long (a run's columns of arguments or results).
 */
const SCAN_WIDTH = 64;
const SCAN_DEPTH = 6;
const COLUMN_WIDTH = 256;

type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;
const VIEWS: ViewCtor[] = [
  Uint8Array, Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView, Buffer,
];

/** A placeholder for an out-of-band array inside a packed header. */
class OutOfBand {
  constructor(
    readonly kind: number,
    readonly byteLength: number,
  ) {}
}

/** The out-of-band bytes of the frame being decoded now (decoding is synchronous). */
let reading: { chunks: Uint8Array[]; i: number; at: number } | null = null;

addExtension({
  Class: OutOfBand,
  type: EXT_TYPE,
  pack(ref: OutOfBand): Buffer {
    const b = Buffer.allocUnsafe(5);
    b[0] = ref.kind;
    b.writeUInt32LE(ref.byteLength, 1);
    return b;
  },
  unpack(data: Uint8Array): unknown {
    if (reading === null || data.byteLength !== 5) throw new RangeError('out-of-band reference outside an out-of-band frame');
    const kind = data[0]!;
    const len = Buffer.from(data.buffer, data.byteOffset, 5).readUInt32LE(1);
    const ctor = VIEWS[kind];
    if (ctor === undefined) throw new RangeError(`unknown typed array kind ${kind}`);
    const c = reading.chunks[reading.i];
    if (c === undefined || reading.at + len > c.byteLength) throw new RangeError('out-of-band array runs past the frame');
    let buffer: ArrayBufferLike = c.buffer;
    let offset = c.byteOffset + reading.at;
    reading.at += len;
    if (reading.at === c.byteLength && reading.i + 1 < reading.chunks.length) {
      reading.i++;
      reading.at = 0;
    }
    const bpe = (ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    if (len % bpe !== 0) throw new RangeError('out-of-band array length is not a multiple of its element size');
    if (offset % bpe !== 0) {
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(buffer, offset, len));
      buffer = copy.buffer;
      offset = 0;
    }
    if (ctor === (Buffer as unknown)) return Buffer.from(buffer, offset, len);
    return new ctor(buffer, offset, len / bpe);
  },
});

function kindOf(v: ArrayBufferView): number {
  if (Buffer.isBuffer(v)) return 12;
  return VIEWS.indexOf(v.constructor as ViewCtor);
}

/**
 * Returns `value` with large typed arrays replaced by placeholders (copying only the
 * containers on the path to them), collecting the arrays' bytes in `out`.
 */
function extract(value: unknown, out: Uint8Array[], depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength < OUT_OF_BAND_MIN) return value;
    const kind = kindOf(value);
    if (kind < 0) return value;
    out.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return new OutOfBand(kind, value.byteLength);
  }
  if (depth >= SCAN_DEPTH) return value;
  if (Array.isArray(value)) return value.length > SCAN_WIDTH && depth > 0 ? value : extractEach(value, out, depth + 1);
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let copy: Record<string, unknown> | null = null;
  let n = 0;
  for (const k in value) {
    if (++n > SCAN_WIDTH) return copy ?? value;
    const v = (value as Record<string, unknown>)[k];
    if (v === null || typeof v !== 'object') continue;
    const r = extract(v, out, depth + 1);
    if (r !== v) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[k] = r;
    }
  }
  return copy ?? value;
}

/**
 * `xs` with {@link extract} applied to its elements at `depth`, copied only if one
 * changed. An element array longer than `width` (a message's columns may be longer than
 * SCAN_WIDTH), or of primitives only, is not looked into.
 */
function extractEach(xs: unknown[], out: Uint8Array[], depth: number, width = SCAN_WIDTH): unknown[] {
  let copy: unknown[] | null = null;
  for (let i = 0; i < xs.length; i++) {
    const v: unknown = xs[i];
    if (v === null || typeof v !== 'object') continue;
    let r: unknown;
    if (Array.isArray(v)) {
      if (v.length > width || depth >= SCAN_DEPTH || primitivesOnly(v)) continue;
      r = extractEach(v, out, depth + 1);
    } else {
      r = extract(v, out, depth);
    }
    if (r !== v) {
      copy ??= xs.slice();
      copy[i] = r;
    }
  }
  return copy ?? xs;
}

/**
 * {@link extract} for a frame's value, usually a list of messages that are lists of
 * primitives and columns (calls, replies, runs of them): each message's elements are
 * scanned straight away, without extract's checks on the message itself, and only
 * objects among them are looked into.
 */
function extractFrame(value: unknown, out: Uint8Array[]): unknown {
  if (!Array.isArray(value)) return extract(value, out, 0);
  let copy: unknown[] | null = null;
  for (let i = 0; i < value.length; i++) {
    const m: unknown = value[i];
    if (m === null || typeof m !== 'object') continue;
    const r = Array.isArray(m) ? extractEach(m, out, 2, COLUMN_WIDTH) : extract(m, out, 1);
    if (r !== m) {
      copy ??= value.slice();
      copy[i] = r;
    }
  }
  return copy ?? value;
}

const OPTIONS = { useRecords: true, mapsAsObjects: true, moreTypes: true, bundleStrings: false } as const;

/**
 * The network codec (msgpackr). Use the same codec on every node of a cluster;
 * `LocalCluster` and the node daemon do.
 *
 * Notes: `Map` values arrive as plain objects and `undefined` inside arrays as `null`
 * on some paths; keep messages to plain data.
 */
export class MsgpackCodec implements Codec {
  readonly name = 'msgpackr';
  readonly #packr = new Packr(OPTIONS);
  readonly #unpackr = new Unpackr(OPTIONS);

  encode(value: unknown, plain = false): Frame {
    const oob: Uint8Array[] = [];
    let head: Uint8Array;
    try {
      head = this.#packr.pack(plain ? value : extractFrame(value, oob));
    } catch (e) {
      throw new CodecError(`the msgpackr codec cannot encode this value: ${(e as Error).message}. Only plain data crosses between nodes`, { cause: e });
    }
    if (oob.length === 0) return head;
    const first = Buffer.allocUnsafe(5 + head.byteLength);
    first[0] = OOB_TAG;
    first.writeUInt32LE(head.byteLength, 1);
    first.set(head, 5);
    return [first, ...oob];
  }

  decode(frame: Frame): unknown {
    try {
      let chunks: Uint8Array[];
      if (Array.isArray(frame)) chunks = frame;
      else chunks = [frame];
      const first = chunks[0];
      if (first === undefined || first.byteLength === 0) throw new RangeError('empty frame');
      if (first[0] !== OOB_TAG) {
        if (chunks.length !== 1) throw new RangeError('chunked frame without a header chunk');
        return this.#unpackr.unpack(first);
      }
      if (first.byteLength < 5) throw new RangeError('truncated frame header');
      const len = Buffer.from(first.buffer, first.byteOffset, first.byteLength).readUInt32LE(1);
      if (5 + len > first.byteLength) throw new RangeError('header runs past the frame');
      const head = first.subarray(5, 5 + len);
      const rest = first.byteLength > 5 + len ? [first.subarray(5 + len), ...chunks.slice(1)] : chunks.slice(1);
      reading = { chunks: rest.length > 0 ? rest : [new Uint8Array(0)], i: 0, at: 0 };
      try {
        return this.#unpackr.unpack(head);
      } finally {
        reading = null;
      }
    } catch (e) {
      throw new CodecError(`the msgpackr codec cannot decode ${frameBytes(frame)} bytes: ${(e as Error).message}`, { cause: e });
    }
  }
}
