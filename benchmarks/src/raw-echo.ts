/**
 * The floor for the net benchmark: a plain `net` server in its own process that reads
 * length-prefixed frames and answers each one. Modes (first byte of a frame):
 *  - 1: a msgpackr-encoded list of requests `[1, id, pid, method, args]`: decode, answer
 *    each with `[2, id, args[0]]` in one encoded reply frame (the same work a node does,
 *    minus the runtime);
 *  - 2: raw bytes: answer with a 1-byte acknowledgement once the whole frame is in (copied
 *    into a buffer the echo process reuses, so no fresh memory is faulted in).
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { Packr, Unpackr } from 'msgpackr';

const OPTIONS = { useRecords: true, mapsAsObjects: true, moreTypes: true } as const;
const packr = new Packr(OPTIONS);
const unpackr = new Unpackr(OPTIONS);

/**
 * Writes one length-prefixed frame: a small one as one buffer in one `write` (cheaper than
 * Node's path for several chunks, which Quicksand's transport avoids the same way), a
 * large one as two chunks gathered into one system call.
 */
export function writeFrame(socket: Socket, kind: number, body: Uint8Array): void {
  if (body.byteLength <= 16 * 1024) {
    const frame = Buffer.allocUnsafe(5 + body.byteLength);
    frame.writeUInt32LE(body.byteLength + 1, 0);
    frame[4] = kind;
    frame.set(body, 5);
    socket.write(frame);
    return;
  }
  const head = Buffer.allocUnsafe(5);
  head.writeUInt32LE(body.byteLength + 1, 0);
  head[4] = kind;
  socket.cork();
  socket.write(head);
  socket.write(body);
  socket.uncork();
}

/** Frames at least this large are copied, as they arrive, into one reused buffer. */
const BIG = 1024 * 1024;

/**
 * Calls `onFrame(kind, body)` for every complete length-prefixed frame. A large frame's
 * body is a view into a buffer reused for the next large frame: the best case for a
 * receiver (one copy, into memory that is already mapped), which is what a floor is for.
 */
export function readFrames(socket: Socket, onFrame: (kind: number, body: Buffer) => void): void {
  let chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  let big = Buffer.alloc(0);
  let bigAt = -1; // bytes of the current large frame copied into `big`, or -1
  socket.on('data', (d: Buffer) => {
    if (bigAt >= 0) {
      const n = Math.min(d.byteLength, need - bigAt);
      big.set(d.subarray(0, n), bigAt);
      bigAt += n;
      if (bigAt < need) return;
      const frame = big.subarray(0, need);
      bigAt = -1;
      need = -1;
      chunks = n < d.byteLength ? [d.subarray(n)] : [];
      have = d.byteLength - n;
      onFrame(frame[0]!, frame.subarray(1));
      if (have === 0) return;
    } else {
      chunks.push(d);
      have += d.byteLength;
    }
    for (;;) {
      if (need < 0) {
        if (have < 4) return;
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        need = all.readUInt32LE(0);
        chunks = [all.subarray(4)];
        have -= 4;
        if (need >= BIG && have < need) {
          if (big.byteLength < need) big = Buffer.alloc(need);
          const rest = chunks[0]!;
          big.set(rest, 0);
          bigAt = rest.byteLength;
          chunks = [];
          have = 0;
          return;
        }
      }
      if (have < need) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const frame = all.subarray(0, need);
      const rest = all.subarray(need);
      chunks = rest.byteLength > 0 ? [rest] : [];
      have = rest.byteLength;
      need = -1;
      onFrame(frame[0]!, frame.subarray(1));
    }
  });
}

if (process.argv[2] === 'serve') {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    readFrames(socket, (kind, body) => {
      if (kind === 1) {
        const reqs = unpackr.unpack(body) as Array<[number, number, string, string, unknown[]]>;
        writeFrame(socket, 1, packr.pack(reqs.map((r) => [2, r[1], r[4][0]])));
      } else {
        writeFrame(socket, 2, Buffer.from([1]));
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.send?.(typeof addr === 'object' && addr !== null ? addr.port : 0);
  });
  process.on('disconnect', () => process.exit(0));
}
