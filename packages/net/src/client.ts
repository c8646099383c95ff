/**
 * Clients: a process that drives a cluster without hosting proclets. `connect` reaches a
 * running cluster of `quicksand node` daemons (on this machine or others) through any of
 * its nodes; `LocalCluster.start` uses the same client for the daemons it starts.
 *
 * A client dials the node it is given, learns from its welcome where the controller is,
 * subscribes to membership events (so it learns of nodes that join and of nodes lost),
 * then asks the controller for every node's address. It dials the other nodes when it
 * first calls them. Nodes answer a client on the connection it dialed: it listens on
 * nothing, so it works from behind NAT and needs no open port.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, parseSize } from '@quicksand/core';
import type { Size } from '@quicksand/core';
import { CONTROLLER_ID, Runtime, checkInt, checkOptions, checkString } from '@quicksand/core/internal';
import type { NodeRecord } from '@quicksand/core/internal';
import { controllerOf, secretBytes } from './auth.js';
import { MsgpackCodec } from './codec.js';
import { checkBusyPoll } from './node.js';
import { WsTransport } from './transport.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** The cluster secret: what the nodes read from `--secret-file` or `QUICKSAND_SECRET` (at least 16 bytes). */
  secret: string | Uint8Array;
  /** Time allowed to reach the node and authenticate. @defaultValue 10000 */
  timeoutMs?: number;
  /** Heartbeat interval. @defaultValue 250 */
  heartbeatMs?: number;
  /** A node silent this long is lost. @defaultValue 1000 */
  peerTimeoutMs?: number;
  /** Largest frame accepted or sent; use the nodes' `--max-frame-bytes`. @defaultValue 256 MiB */
  maxFrameBytes?: Size;
  /** As a node's `busyPollMs`: how long this process polls after a batch frame; 0 never. @defaultValue 0.2 */
  busyPollMs?: number;
  /** Where protocol problems are logged. @defaultValue stderr */
  log?: (line: string) => void;
}

/**
 * Connects this process to a running cluster, through any of its nodes, as a client: it
 * hosts no proclets, and every call is a real RPC. `close()` on the returned view
 * disconnects this client only; the nodes keep running (stop them with SIGTERM, which
 * drains each one first).
 *
 * Proclet types are loaded by the nodes from their `module` URL: run the same code at the
 * same paths on every machine.
 * @example
 * ```ts
 * // on each machine, with the same QUICKSAND_SECRET:
 * //   quicksand node --listen 0.0.0.0:7000 --advertise THIS_HOST --cpus 8 --memory 16GiB [--join ws://first:7000]
 * const cluster = await connect('ws://first:7000', { secret: process.env.QUICKSAND_SECRET! });
 * const counter = await cluster.create(CounterType, []);
 * await counter.call('add', 1);
 * await cluster.close(); // this client leaves; the cluster stays up
 * ```
 * @throws TypeError/RangeError for bad options; an Error naming the URL when the node
 * cannot be reached, refuses the secret, or does not answer in `timeoutMs`.
 */
export async function connect(url: string, options: ConnectOptions): Promise<Cluster> {
  checkString(url, 'url');
  if (!/^wss?:\/\//.test(url)) throw new TypeError(`url must be a node's ws://HOST:PORT, not '${url}'`);
  const opts = checkOptions(options);
  if (opts.secret === undefined) throw new TypeError('options.secret is required: the cluster secret the nodes were started with');
  const transport = new WsTransport({
    id: clientId(),
    kind: 'client',
    secret: secretBytes(opts.secret, 'options.secret'),
    handshakeTimeoutMs: opts.timeoutMs === undefined ? 10_000 : checkInt(opts.timeoutMs, 'options.timeoutMs', 1),
    heartbeatMs: opts.heartbeatMs === undefined ? undefined : checkInt(opts.heartbeatMs, 'options.heartbeatMs', 1),
    peerTimeoutMs: opts.peerTimeoutMs === undefined ? undefined : checkInt(opts.peerTimeoutMs, 'options.peerTimeoutMs', 1),
    maxFrameBytes: opts.maxFrameBytes === undefined ? undefined : parseSize(opts.maxFrameBytes, 'options.maxFrameBytes'),
    busyPollMs: checkBusyPoll(opts.busyPollMs, 'options.busyPollMs'),
    log: opts.log,
  });
  let seed: { id: string; info: unknown };
  try {
    seed = await transport.dialSeed(url);
  } catch (e) {
    await transport.close();
    throw new Error(`could not connect to the cluster at ${url}: ${(e as Error).message}`, { cause: e });
  }
  const info = controllerOf(seed.info);
  if (info === null) {
    await transport.close();
    throw new Error(`${url} (node ${seed.id}) did not say where the cluster's controller is; is it a quicksand node of the same version?`);
  }
  transport.addPeer(info.controller, info.controllerUrl);
  return openClient(transport, info.controller, async () => undefined);
}

/** @internal A fresh client id: unique per process and connection. */
export function clientId(): string {
  return `client-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * @internal The client runtime on `transport` (which knows at least the controller's
 * address) and its cluster view, once subscribed to membership and told every node's
 * address. `afterClose` runs when the view is closed, after the client has left.
 */
export async function openClient(transport: WsTransport, controller: string, afterClose: () => Promise<void>): Promise<Cluster> {
  const rt = new Runtime({ id: transport.self, transport, codec: new MsgpackCodec(), controllerNode: controller, budget: null });
  rt.events.on('nodeJoined', (e: { node: string; address: string | null }) => {
    if (e.address !== null) transport.addPeer(e.node, e.address);
  });
  // Cluster.close calls this once.
  const view = new Cluster(rt, async () => {
    await rt.close();
    await afterClose();
  });
  rt.facade = view;
  try {
    // Subscribed first: a node that joins after the list below is told by its event.
    await rt.invoke(CONTROLLER_ID, 'subscribe', [transport.self]);
    const nodes = (await rt.invoke(CONTROLLER_ID, 'nodes', [])) as NodeRecord[];
    for (const n of nodes) if (n.lost === null && n.address !== null) transport.addPeer(n.id, n.address);
  } catch (e) {
    await view.close();
    throw new Error(`could not join the cluster as a client through its controller on ${controller}: ${(e as Error).message}`, { cause: e });
  }
  return view;
}
