/**
 * A Quicksand node in this process, on the real network: a ws server, the msgpackr codec,
 * the kernel runtime with its agent, and the controller when it is the first node.
 * The `quicksand node` daemon is a thin CLI around {@link startNode}.
 */
import { Cluster, formatBytes, parseSize } from '@quicksand/core';
import type { Codec, Size } from '@quicksand/core';
import { CONTROLLER_ID, Runtime, attachAgent, attachController, checkCoreList, checkInt, checkTaskset, pinProcess } from '@quicksand/core/internal';
import { MsgpackCodec } from './codec.js';
import { WsTransport } from './transport.js';
import { controllerOf, secretBytes } from './auth.js';
import type { WelcomeInfo } from './auth.js';

/** Options of {@link startNode}. */
export interface NodeOptions {
  /** `HOST:PORT` to listen on; port 0 picks a free one. */
  listen: string;
  /**
   * `HOST` or `HOST:PORT` where the other nodes and clients reach this node, when that is
   * not the listen address: listening on `0.0.0.0` in a container, or behind a port
   * mapping. Without a port, the listen port. Its host is also where peers dial the bulk
   * lane. @defaultValue the listen address
   */
  advertise?: string;
  /**
   * Port of the bulk lane server (large frames go there, beside the WebSocket), on the
   * same host; open it in firewalls too. @defaultValue 0, a free port
   */
  bulkPort?: number;
  /** Compute slots (worker threads). */
  cpus: number;
  /** Memory budget for this node's proclets, e.g. `'1GiB'`. */
  memory: Size;
  /** `ws://HOST:PORT` of any node of the cluster to join; without it this node starts a new cluster and hosts its controller. */
  join?: string;
  /** The cluster secret, shared by every node (at least 16 bytes). */
  secret: string | Uint8Array;
  /** Node id. @defaultValue the listen address, `HOST:PORT` */
  id?: string;
  /** Largest frame accepted or sent. @defaultValue 256 MiB */
  maxFrameBytes?: Size;
  /** Heartbeat interval. @defaultValue 250 */
  heartbeatMs?: number;
  /** A peer silent this long is lost. @defaultValue 1000 */
  peerTimeoutMs?: number;
  /**
   * After a frame that carries a batch (1 KiB or more: a pipelined stream of calls), the
   * node keeps its event loop polling instead of sleeping for this long, while its compute
   * workers are idle, so the stream's next frame finds it awake (see `@quicksand/net`'s
   * README); 0 turns this off. At most 1000.
   * @defaultValue 0.2
   */
  busyPollMs?: number;
  /**
   * CPU cores its compute worker threads run on, like `'0'`, `'2-7'` or `'0,2'` (Linux;
   * needs the `taskset` tool of util-linux). With `pinMain`, a node's event loop and its
   * compute work stop taking turns on one core while another is idle (see the README).
   * The workers share the listed cores when there are fewer cores than `cpus`.
   * @defaultValue the cores of the main thread
   */
  pinWorkers?: string;
  /**
   * CPU cores for every other thread of this process: the event loop and the helper
   * threads of V8 and libuv (Linux, as `pinWorkers`). This pins the whole process that
   * calls `startNode`, and the workers too unless `pinWorkers` is given.
   * @defaultValue not pinned
   */
  pinMain?: string;
  /** Where the node logs protocol problems. @defaultValue stderr */
  log?: (line: string) => void;
}

/** A running node. */
export interface QuicksandNode {
  /** The node id. */
  readonly id: string;
  /** `ws://host:port` it listens on. */
  readonly url: string;
  /** The port of its bulk lane server, on the same host. */
  readonly bulkPort: number;
  /** The node that hosts the controller. */
  readonly controller: string;
  /** A view of the cluster from this node. */
  readonly cluster: Cluster;
  /**
   * Leaves gracefully: asks the controller to move every proclet away, then closes.
   * The controller's own node cannot drain; it just closes.
   */
  drain(): Promise<void>;
  /** Leaves at once: closes connections, workers and the server. */
  close(): Promise<void>;
}

/** Parses `HOST:PORT` (IPv6 in brackets). */
export function parseHostPort(s: string, name = 'listen'): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  if (m === null || m[1] === '') throw new RangeError(`${name} must be HOST:PORT, got '${s}'`);
  return { host: m[1]!, port: checkInt(Number(m[2]), `${name} port`, 0, 65535) };
}

/** Parses `advertise`: `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`. */
function parseAdvertise(s: string): { host: string; port: number | null } {
  const m = typeof s === 'string' ? /^(?:\[([0-9A-Fa-f:.]+)\]|([\w.-]+))(?::(\d+))?$/.exec(s) : null;
  if (m === null) throw new RangeError(`advertise must be HOST, HOST:PORT or [IPv6]:PORT, got '${String(s)}'`);
  const port = m[3] === undefined ? null : checkInt(Number(m[3]), 'advertise port', 1, 65535);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * Starts a node in this process and joins (or founds) a cluster.
 * @throws RangeError/TypeError for bad options; an Error when the seed cannot be reached
 * or refuses the secret.
 */
export async function startNode(options: NodeOptions): Promise<QuicksandNode> {
  const { host, port } = parseHostPort(options.listen);
  const cpus = checkInt(options.cpus, 'cpus', 0, 1024);
  const memory = parseSize(options.memory, 'memory');
  const secret = secretBytes(options.secret);
  const codec: Codec = new MsgpackCodec();
  const wanted = options.id;
  if (wanted !== undefined && !/^[\w.:-]{1,64}$/.test(wanted)) throw new RangeError(`id must be 1-64 letters, digits, '.', ':', '_' or '-', got '${wanted}'`);
  const advertise = options.advertise === undefined ? undefined : parseAdvertise(options.advertise);
  const pinWorkers = options.pinWorkers === undefined ? undefined : checkCoreList(options.pinWorkers, 'pinWorkers');
  if (options.pinMain !== undefined) pinProcess(checkCoreList(options.pinMain, 'pinMain'));
  else if (pinWorkers !== undefined) checkTaskset('pinWorkers');
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const transport = new WsTransport({
    id: wanted ?? `pending-${process.pid}`,
    kind: 'node',
    secret,
    maxFrameBytes: options.maxFrameBytes === undefined ? undefined : parseSize(options.maxFrameBytes, 'maxFrameBytes'),
    heartbeatMs: options.heartbeatMs,
    peerTimeoutMs: options.peerTimeoutMs,
    log,
    bulkPort: options.bulkPort === undefined ? undefined : checkInt(options.bulkPort, 'bulkPort', 0, 65535),
    busyPollMs: checkBusyPoll(options.busyPollMs, 'busyPollMs'),
  });
  const url = await transport.listenOn(host, port, advertise);
  if (advertise === undefined && (host === '0.0.0.0' || host === '::')) {
    log(`quicksand: node listens on ${host} and tells its peers ${url}, which only this machine can dial; pass --advertise HOST (an address the other machines reach) for a cluster of several machines`);
  }
  const id = wanted ?? new URL(url).host;
  transport.self = id;

  let controller = id;
  let controllerUrl = url;
  if (options.join !== undefined) {
    let seed: { id: string; info: unknown };
    try {
      seed = await transport.dialSeed(options.join);
    } catch (e) {
      await transport.close();
      throw new Error(`node ${id} could not join through ${options.join}: ${(e as Error).message}`, { cause: e });
    }
    const info = controllerOf(seed.info);
    if (info === null) {
      await transport.close();
      throw new Error(`node ${id}: ${options.join} did not say where the controller is`);
    }
    controller = info.controller;
    controllerUrl = info.controllerUrl;
    transport.addPeer(controller, controllerUrl);
  }
  transport.welcomeInfo = () => ({ controller, controllerUrl }) satisfies WelcomeInfo;

  const rt = new Runtime({ id, transport, codec, controllerNode: controller, budget: { cpus, memory }, pinWorkers, log: options.log });
  // A poll would take CPU from the node's own compute work.
  transport.pollWhile = () => rt.workersIdle;
  rt.events.on('nodeJoined', (e: { node: string; address: string | null }) => {
    if (e.address !== null) transport.addPeer(e.node, e.address);
  });
  attachAgent(rt);
  if (controller === id) attachController(rt);
  rt.facade = new Cluster(rt, null);
  try {
    const peers = (await rt.invoke(CONTROLLER_ID, 'join', [id, cpus, memory, url])) as Array<[string, string | null]>;
    for (const [peer, address] of peers) if (address !== null) transport.addPeer(peer, address);
  } catch (e) {
    await rt.close();
    throw new Error(`node ${id} could not register with the controller on ${controller}: ${(e as Error).message}`, { cause: e });
  }
  let closed = false;
  const left = new Promise<void>((resolve) => {
    rt.onLeave = resolve;
  });
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await rt.close();
  };
  return {
    id,
    url,
    bulkPort: transport.bulkPort!,
    controller,
    cluster: rt.facade,
    async drain() {
      if (closed) return;
      if (controller === id) return close();
      try {
        await rt.invoke(CONTROLLER_ID, 'drain', [id]);
      } catch (e) {
        // The controller tells this node to leave before its answer can arrive.
        if (!rt.closed) throw e;
      }
      await left;
      closed = true;
    },
    close,
  };
}

/** One line describing a started node, printed by the daemon when ready. */
export function readyLine(node: QuicksandNode, cpus: number, memory: number): string {
  return `quicksand node ${node.id} ready at ${node.url} (bulk lane port ${node.bulkPort}, cpus ${cpus}, memory ${formatBytes(memory)}, controller ${node.controller})`;
}

/** @internal Checks a `busyPollMs` option: undefined, or milliseconds from 0 to 1000. */
export function checkBusyPoll(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1000)) throw new RangeError(`${name} must be a number of milliseconds from 0 to 1000, got ${typeof v === 'number' ? v : typeof v}`);
  return v;
}
