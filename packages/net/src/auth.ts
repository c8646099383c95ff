/**
 * Challenge-response authentication: both ends prove they know the cluster secret without
 * sending it. The server opens with a random nonce; the client answers with its own nonce
 * and an HMAC over both nonces and both ids; the server checks it and answers with an HMAC
 * in the other direction, which the client checks. Nothing else is accepted on a
 * connection until this completes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh random nonce, hex. */
export function nonce(): string {
  return randomBytes(16).toString('hex');
}

/** HMAC-SHA256 of the parts joined by newlines, hex. */
export function mac(secret: Uint8Array, ...parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\n')).digest('hex');
}

/** Constant-time comparison of two hex MACs. */
export function macEqual(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Normalizes a secret given as a string or bytes; refuses short ones. */
export function secretBytes(secret: string | Uint8Array, where = 'secret'): Uint8Array {
  const b = typeof secret === 'string' ? Buffer.from(secret.trim(), 'utf8') : secret;
  if (!(b instanceof Uint8Array) || b.byteLength < 16) {
    throw new RangeError(`${where} must be at least 16 bytes (use a long random string, e.g. \`openssl rand -hex 32\`)`);
  }
  return b;
}

/** Handshake messages (JSON text frames). */
export interface Challenge {
  t: 'challenge';
  id: string;
  nonce: string;
  /** The port of the node's bulk lane server (on the same host). */
  bulk?: number;
}
export interface AuthRequest {
  t: 'auth';
  id: string;
  kind: 'node' | 'client';
  address: string | null;
  /** A node's bulk lane port (on the host of `address`). */
  bulk?: number;
  nonce: string;
  mac: string;
}
export interface Welcome {
  t: 'welcome';
  id: string;
  mac: string;
  info: unknown;
}
