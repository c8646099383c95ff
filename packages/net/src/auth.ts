/**
 * Challenge-response authentication: both ends prove they know the cluster secret without
 * sending it. The server opens with a random nonce; the client answers with its own nonce
 * and an HMAC over both nonces and both ids; the server checks it and answers with an HMAC
 * in the other direction, which the client checks. Nothing else is accepted on a
 * connection until this completes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The version of what nodes and clients say to each other: the handshake, the runtime's
 * messages (`MSG_*` in `@quicksand/core`) and the codec's framing. Ends of different
 * versions refuse each other at the handshake, saying why, instead of failing later on a
 * message one of them does not know.
 * - 2: consecutive calls and results travel as runs (MSG_CALLS, MSG_OKS).
 * - 1 (sent no version): one message per call or result.
 */
export const WIRE_PROTOCOL = 2;

/** Why a peer that sent `v` in its handshake cannot be talked to, or null if it can. */
export function protocolMismatch(peer: string, v: unknown): string | null {
  if (v === WIRE_PROTOCOL) return null;
  const theirs = typeof v === 'number' ? String(v) : '1';
  return `${peer} speaks wire protocol ${theirs}, this end ${WIRE_PROTOCOL}: run one @quicksand/net version on every node and client`;
}

/** A fresh random nonce, hex. */
export function nonce(): string {
  return randomBytes(16).toString('hex');
}

/** HMAC-SHA256 of the parts joined by newlines, hex. */
export function mac(secret: Uint8Array, ...parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\n')).digest('hex');
}

/**
 * The two proofs of a handshake, under the labels of one kind of connection: the
 * WebSocket's (`''`: 'auth', 'welcome') or the bulk lane's (`'bulk-'`). The dialer
 * answers the listener's challenge with {@link dialerProof}; the listener welcomes it with
 * {@link listenerProof}.
 */
export type ProofScope = '' | 'bulk-';

/** The dialer's proof: over the listener's nonce, its own, its id and the listener's. */
export function dialerProof(secret: Uint8Array, scope: ProofScope, listenerNonce: string, dialerNonce: string, dialerId: string, listenerId: string): string {
  return mac(secret, `${scope}auth`, listenerNonce, dialerNonce, dialerId, listenerId);
}

/** The listener's proof: over the dialer's nonce, its own, its id and the dialer's. */
export function listenerProof(secret: Uint8Array, scope: ProofScope, dialerNonce: string, listenerNonce: string, listenerId: string, dialerId: string): string {
  return mac(secret, `${scope}welcome`, dialerNonce, listenerNonce, listenerId, dialerId);
}

/** Whether `m` has the shape of an answer to a challenge: `t: 'auth'`, an id of 1-256 characters, a nonce of at most 128. */
export function isAnswer(m: Record<string, unknown>): m is Record<string, unknown> & { t: 'auth'; id: string; nonce: string } {
  return m.t === 'auth' && typeof m.id === 'string' && m.id.length > 0 && m.id.length <= 256 && typeof m.nonce === 'string' && m.nonce.length <= 128;
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
  /** The listener's {@link WIRE_PROTOCOL}. */
  v: number;
  id: string;
  nonce: string;
  /** The port of the node's bulk lane server (on the same host). */
  bulk?: number;
}
export interface AuthRequest {
  t: 'auth';
  /** The dialer's {@link WIRE_PROTOCOL}. */
  v: number;
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

/** What a node's welcome tells whoever dialed it (`Welcome.info`): where the controller is. */
export interface WelcomeInfo {
  controller: string;
  controllerUrl: string;
}

/** The controller's id and URL from a welcome's `info`, or null when it does not say. */
export function controllerOf(info: unknown): WelcomeInfo | null {
  const i = info as Partial<WelcomeInfo> | null;
  return typeof i?.controller === 'string' && typeof i.controllerUrl === 'string' ? { controller: i.controller, controllerUrl: i.controllerUrl } : null;
}
