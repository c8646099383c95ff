#!/usr/bin/env node
/**
 * The `quicksand` command.
 *
 *   quicksand node --listen HOST:PORT --cpus N --memory SIZE [--join ws://HOST:PORT]
 *                  [--secret-file PATH] [--id ID] [--heartbeat-ms MS] [--peer-timeout-ms MS]
 *                  [--max-frame-bytes SIZE] [--bulk-port PORT] [--advertise HOST[:PORT]]
 *                  [--pin-workers CORES] [--pin-main CORES] [--busy-poll-us US]
 *   quicksand stats --connect ws://HOST:PORT [--secret-file PATH] [--json]
 *
 * `stats` connects to a running cluster as a client, prints its nodes and proclets
 * (`cluster.stats()`; one JSON object with `--json`) and disconnects.
 *
 * The secret comes from --secret-file, else from the QUICKSAND_SECRET environment
 * variable; there is no unauthenticated mode. Prints one line when ready, serves until
 * SIGTERM or SIGINT, then leaves cleanly. With QUICKSAND_EXIT_WITH_PARENT=1 it also
 * leaves when its standard input closes (its parent died).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatBytes, parseSize } from '@quicksand/core';
import type { ClusterStats } from '@quicksand/core';
import { connect } from './client.js';
import { readyLine, startNode } from './node.js';

const USAGE = `usage: quicksand node --listen HOST:PORT --cpus N --memory SIZE [--join ws://HOST:PORT] [--secret-file PATH] [--id ID]
                      [--heartbeat-ms MS] [--peer-timeout-ms MS] [--max-frame-bytes SIZE] [--bulk-port PORT]
                      [--advertise HOST[:PORT]] [--pin-workers CORES] [--pin-main CORES] [--busy-poll-us US]
       quicksand stats --connect ws://HOST:PORT [--secret-file PATH] [--json]
The cluster secret is read from --secret-file, or from the QUICKSAND_SECRET environment variable.`;

function fail(message: string): never {
  process.stderr.write(`quicksand: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  // Marks this process as a daemon: LocalCluster.start refuses to run here (see there).
  process.env.QUICKSAND_DAEMON = '1';
  const [command, ...rest] = argv;
  if (command === 'stats') return stats(rest);
  if (command !== 'node') fail(command === undefined ? 'missing command' : `unknown command '${command}'`);
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        listen: { type: 'string' },
        cpus: { type: 'string' },
        memory: { type: 'string' },
        join: { type: 'string' },
        'secret-file': { type: 'string' },
        id: { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'peer-timeout-ms': { type: 'string' },
        'max-frame-bytes': { type: 'string' },
        'busy-poll-us': { type: 'string' },
        'bulk-port': { type: 'string' },
        advertise: { type: 'string' },
        'pin-workers': { type: 'string' },
        'pin-main': { type: 'string' },
      },
      strict: true,
    }) as { values: Record<string, string | undefined> });
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.listen === undefined) fail('--listen is required');
  if (values.cpus === undefined || !/^\d+$/.test(values.cpus)) fail(`--cpus must be a non-negative integer, got ${values.cpus ?? 'nothing'}`);
  if (values.memory === undefined) fail('--memory is required');
  let memory: number;
  try {
    memory = parseSize(values.memory, '--memory');
  } catch (e) {
    fail((e as Error).message);
  }
  const secret = secretFrom(values['secret-file']);
  const num = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) fail(`--${name} must be a positive integer, got ${v}`);
    return Number(v);
  };
  const cpus = Number(values.cpus);
  const busyPollUs = num('busy-poll-us');
  let node;
  try {
    node = await startNode({
      listen: values.listen,
      cpus,
      memory,
      join: values.join,
      secret,
      id: values.id,
      heartbeatMs: num('heartbeat-ms'),
      peerTimeoutMs: num('peer-timeout-ms'),
      maxFrameBytes: values['max-frame-bytes'],
      bulkPort: num('bulk-port'),
      advertise: values.advertise,
      pinWorkers: values['pin-workers'],
      pinMain: values['pin-main'],
      busyPollMs: busyPollUs === undefined ? undefined : busyPollUs / 1000,
    });
  } catch (e) {
    process.stderr.write(`quicksand: node failed to start: ${(e as Error).message}\n`);
    process.exit(1);
  }
  let leaving = false;
  const leave = (why: string): void => {
    if (leaving) return;
    leaving = true;
    process.stderr.write(`quicksand node ${node.id} leaving (${why})\n`);
    const force = setTimeout(() => {
      process.stderr.write(`quicksand node ${node.id}: leaving took too long; exiting\n`);
      process.exit(1);
    }, 30_000);
    force.unref();
    const how = why === 'SIGTERM' ? node.drain() : node.close();
    how.then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`quicksand node ${node.id}: could not drain (${(e as Error).message}); closing anyway\n`);
        node.close().then(
          () => process.exit(1),
          () => process.exit(1),
        );
      },
    );
  };
  // SIGTERM drains (every proclet moves to other nodes first); SIGINT and a dead parent close at once.
  process.on('SIGTERM', () => leave('SIGTERM'));
  process.on('SIGINT', () => leave('SIGINT'));
  if (process.env.QUICKSAND_EXIT_WITH_PARENT === '1') {
    process.stdin.on('end', () => leave('parent exited'));
    process.stdin.on('error', () => leave('parent exited'));
    process.stdin.resume();
  }
  // Handlers first: whoever reads the ready line may signal at once.
  process.stdout.write(`${readyLine(node, cpus, memory)}\n`);
}

/** The cluster secret, from `--secret-file` or QUICKSAND_SECRET. */
function secretFrom(file: string | undefined): string {
  let secret: string | undefined;
  if (file !== undefined) {
    try {
      secret = readFileSync(file, 'utf8');
    } catch (e) {
      fail(`cannot read --secret-file: ${(e as Error).message}`);
    }
  } else {
    secret = process.env.QUICKSAND_SECRET;
  }
  if (secret === undefined || secret.trim() === '') fail('no cluster secret: pass --secret-file PATH or set QUICKSAND_SECRET');
  return secret;
}

/** `quicksand stats`: a running cluster's nodes and proclets, as a table or as JSON. */
async function stats(argv: string[]): Promise<void> {
  let values: { connect?: string; 'secret-file'?: string; json?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { connect: { type: 'string' }, 'secret-file': { type: 'string' }, json: { type: 'boolean' } }, strict: true }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.connect === undefined) fail('--connect ws://HOST:PORT is required');
  const secret = secretFrom(values['secret-file']);
  let s: ClusterStats;
  try {
    const cluster = await connect(values.connect, { secret, log: () => undefined });
    try {
      s = await cluster.stats();
    } finally {
      await cluster.close();
    }
  } catch (e) {
    process.stderr.write(`quicksand: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    process.exit(0);
  }
  const live = s.nodes.filter((n) => !n.lost);
  // The node id left-aligned, the other columns right-aligned.
  const widths = [24, 5, 5, 7, 12, 12, 24];
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
  const out = [
    `cluster at ${values.connect}: ${live.length} nodes (${s.nodes.length - live.length} lost), ${s.proclets.length} proclets, ${s.migrations} migrations, ${s.lostProclets} proclets lost with their nodes`,
    line(['node', 'cpus', 'busy', 'queued', 'memory used', 'of', 'memory/compute proclets']),
  ];
  for (const n of s.nodes) {
    const row = line([n.id, String(n.cpus), String(n.cpusBusy), String(n.tasksQueued), formatBytes(n.memoryUsed), formatBytes(n.memory), `${n.proclets.memory} / ${n.proclets.compute}`]);
    out.push(n.lost ? `${row}  (lost)` : row);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(0);
}

await main(process.argv.slice(2));
