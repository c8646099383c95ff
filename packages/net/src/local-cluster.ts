/**
 * `LocalCluster`: starts `quicksand node` daemons as child processes on loopback (free
 * ports, a fresh secret), waits until every one is ready, and returns a `Cluster` whose
 * view is a client in this process (it hosts no proclets; every call is a real RPC).
 *
 * No process is left behind: `close()` sends SIGINT (leave at once, no drain) and then
 * SIGKILL to stragglers; if
 * this process dies first, each daemon sees its standard input close and leaves; and on a
 * normal exit of this process any still-running daemon is killed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseSize } from '@quicksand/core';
import type { Cluster, NodeSpec, Size } from '@quicksand/core';
import { checkCoreList, checkInt, checkOptions } from '@quicksand/core/internal';
import { clientId, openClient } from './client.js';
import { WsTransport } from './transport.js';

/** One daemon of {@link LocalCluster.start}: its budget, and the cores its threads run on. */
export interface LocalNodeSpec extends NodeSpec {
  /** Cores for its compute workers, like `'0'` or `'2-3'` (`--pin-workers`; Linux). The same as `pinWorkers` of `startNode`. */
  pinWorkers?: string;
  /** Cores for its event loop and other threads (`--pin-main`; Linux). The same as `pinMain` of `startNode`. */
  pinMain?: string;
}

/** Options of {@link LocalCluster.start}. */
export interface LocalClusterOptions {
  /** One daemon per entry; ids are `n0`, `n1`, ...; `n0` hosts the controller. */
  nodes: LocalNodeSpec[];
  /** Time allowed for every node to be ready. @defaultValue 30000 */
  startTimeoutMs?: number;
  /** Heartbeat interval of every node. @defaultValue 250 */
  heartbeatMs?: number;
  /** A node silent this long is lost. @defaultValue 1000 */
  peerTimeoutMs?: number;
  /** Largest frame between nodes. @defaultValue 256 MiB */
  maxFrameBytes?: Size;
  /**
   * What to do with the daemons' log lines (stderr): `'inherit'` prefixes them with the
   * node id on this process's stderr; `'silent'` keeps only the last lines, for errors.
   * @defaultValue 'inherit'
   */
  logs?: 'inherit' | 'silent';
  /** Extra Node.js flags for every node process, e.g. `['--cpu-prof']` or `['--max-old-space-size=4096']`. */
  execArgv?: string[];
}

/** @internal One daemon of a local cluster. */
export interface LocalNode {
  id: string;
  url: string;
  process: ChildProcess;
  /** The last lines it wrote to stderr. */
  logs: string[];
}

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const running = new Set<ChildProcess>();
let exitHook = false;
const clusters = new WeakMap<Cluster, { nodes: LocalNode[]; secret: string }>();

function killAllOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Starts clusters of real node processes on this machine. */
export class LocalCluster {
  private constructor() {}

  /**
   * Starts one `quicksand node` daemon per entry of `options.nodes` and returns a cluster
   * with the same API as the in-process one.
   * @example
   * ```ts
   * const cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '1GiB' }, { cpus: 3, memory: '64MiB' }] });
   * const counter = await cluster.create(CounterType, []);
   * await cluster.close();
   * ```
   * @throws TypeError/RangeError for bad options; an Error naming the node (with its last
   * log lines) when a daemon fails to start in time.
   */
  static async start(options: LocalClusterOptions): Promise<Cluster> {
    if (process.env.QUICKSAND_DAEMON === '1') {
      // A node imports the module of every proclet type it hosts; if that module starts a
      // cluster at its top level, each node would start another one, without end.
      throw new Error('LocalCluster.start was called inside a quicksand node process: a module that defines proclet types (passed as `module: import.meta.url`) starts a cluster when imported. Move the proclet types into a module without top-level side effects.');
    }
    const opts = checkOptions(options);
    if (!Array.isArray(opts.nodes) || opts.nodes.length === 0) throw new TypeError('options.nodes must be a non-empty array of { cpus, memory }');
    const specs = opts.nodes.map((n, i) => ({
      cpus: checkInt(n.cpus, `options.nodes[${i}].cpus`, 0, 1024),
      memory: parseSize(n.memory, `options.nodes[${i}].memory`),
      pinWorkers: n.pinWorkers === undefined ? undefined : checkCoreList(n.pinWorkers, `options.nodes[${i}].pinWorkers`),
      pinMain: n.pinMain === undefined ? undefined : checkCoreList(n.pinMain, `options.nodes[${i}].pinMain`),
    }));
    const timeout = opts.startTimeoutMs ?? 30_000;
    checkInt(timeout, 'options.startTimeoutMs');
    const secret = randomBytes(32).toString('hex');
    const extra: string[] = [];
    if (opts.heartbeatMs !== undefined) extra.push('--heartbeat-ms', String(checkInt(opts.heartbeatMs, 'options.heartbeatMs')));
    if (opts.peerTimeoutMs !== undefined) extra.push('--peer-timeout-ms', String(checkInt(opts.peerTimeoutMs, 'options.peerTimeoutMs')));
    if (opts.maxFrameBytes !== undefined) extra.push('--max-frame-bytes', String(parseSize(opts.maxFrameBytes, 'options.maxFrameBytes')));
    const logs = opts.logs ?? 'inherit';
    const execArgv = opts.execArgv ?? [];
    if (!Array.isArray(execArgv) || execArgv.some((a) => typeof a !== 'string')) throw new TypeError('options.execArgv must be an array of strings');
    killAllOnExit();

    const nodes: LocalNode[] = [];
    const stopAll = async (): Promise<void> => {
      await Promise.all(nodes.map((n) => stop(n.process)));
    };
    try {
      const first = await launch('n0', specs[0]!, undefined, secret, extra, logs, timeout, execArgv);
      nodes.push(first);
      const rest = await Promise.allSettled(specs.slice(1).map((spec, i) => launch(`n${i + 1}`, spec, first.url, secret, extra, logs, timeout, execArgv)));
      for (const r of rest) if (r.status === 'fulfilled') nodes.push(r.value);
      const failed = rest.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (e) {
      await stopAll();
      throw e;
    }

    const transport = new WsTransport({
      id: clientId(),
      kind: 'client',
      secret: Buffer.from(secret),
      maxFrameBytes: opts.maxFrameBytes === undefined ? undefined : parseSize(opts.maxFrameBytes, 'maxFrameBytes'),
      heartbeatMs: opts.heartbeatMs,
      peerTimeoutMs: opts.peerTimeoutMs,
    });
    for (const n of nodes) transport.addPeer(n.id, n.url);
    // On failure, openClient closes the view, which stops the daemons.
    const view = await openClient(transport, 'n0', stopAll);
    clusters.set(view, { nodes, secret });
    return view;
  }
}

/** @internal The daemons of a local cluster (for tests that kill one). */
export function localNodes(cluster: Cluster): LocalNode[] {
  const c = clusters.get(cluster);
  if (c === undefined) throw new TypeError('not a LocalCluster');
  return c.nodes;
}

/** @internal The secret of a local cluster (for tests that speak the protocol by hand). */
export function localSecret(cluster: Cluster): string {
  const c = clusters.get(cluster);
  if (c === undefined) throw new TypeError('not a LocalCluster');
  return c.secret;
}

/**
 * @internal glibc malloc settings for node processes (the caller's environment wins). Proclets
 * migrate in and out, and their state is allocated anew on every arrival: by default
 * glibc maps each large buffer fresh and unmaps it when freed, and faulting fresh pages in
 * costs about 0.7 ms per MiB on a VM. With buffers up to 64 MiB taken from the heap, and
 * up to 128 MiB of freed heap kept for reuse, a node reuses the memory of the proclets
 * that left it (with `transferState`, page faults per 10 MiB migration fell from about
 * 2,600 to about 350, and the migration from 22 ms to 12-14 ms on a 2-core VM).
 */
export const NODE_MALLOC = { MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(128 * 1024 * 1024) };

function launch(id: string, spec: { cpus: number; memory: number; pinWorkers?: string | undefined; pinMain?: string | undefined }, join: string | undefined, secret: string, extra: string[], logs: 'inherit' | 'silent', timeoutMs: number, execArgv: string[]): Promise<LocalNode> {
  const args = [...execArgv, CLI, 'node', '--listen', '127.0.0.1:0', '--cpus', String(spec.cpus), '--memory', String(spec.memory), '--id', id, ...extra];
  if (join !== undefined) args.push('--join', join);
  if (spec.pinWorkers !== undefined) args.push('--pin-workers', spec.pinWorkers);
  if (spec.pinMain !== undefined) args.push('--pin-main', spec.pinMain);
  const child = spawn(process.execPath, args, {
    env: { ...NODE_MALLOC, ...process.env, QUICKSAND_SECRET: secret, QUICKSAND_EXIT_WITH_PARENT: '1', QUICKSAND_DAEMON: undefined },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const node: LocalNode = { id, url: '', process: child, logs: [] };
  const keep = (line: string): void => {
    node.logs.push(line);
    if (node.logs.length > 50) node.logs.shift();
    if (logs === 'inherit') process.stderr.write(`[${id}] ${line}\n`);
  };
  lines(child.stderr, keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`node ${id} was not ready after ${timeoutMs} ms; its last log lines:\n${node.logs.join('\n')}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`node ${id} exited during start (${signal ?? `code ${code}`}); its last log lines:\n${node.logs.join('\n')}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`node ${id} could not be started: ${e.message}`));
    });
    lines(child.stdout, (line) => {
      const m = / ready at (ws:\/\/\S+)/.exec(line);
      if (m !== null && node.url === '') {
        clearTimeout(timer);
        node.url = m[1]!;
        resolve(node);
      } else {
        keep(line);
      }
    });
  });
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
