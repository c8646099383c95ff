import { expect } from 'chai';
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ClusterStats } from '@quicksand/core';
import { LocalCluster } from '@quicksand/net';
import { localNodes, localSecret } from '@quicksand/net/internal';
import { CounterType } from './fixtures/types.js';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { eventually } from './helpers.js';

const CLI = fileURLToPath(import.meta.resolve('@quicksand/net').replace(/index\.js$/, 'cli.js'));
const ORPHAN = fileURLToPath(new URL('./fixtures/orphan.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function parentThen(how: 'kill' | 'throw'): Promise<number[]> {
  const parent = spawn(process.execPath, [ORPHAN, how], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    parent.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as number[]);
    });
    parent.once('exit', () => reject(new Error('parent exited before printing its node pids')));
  });
  if (how === 'kill') parent.kill('SIGKILL');
  return pids;
}

describe('node processes — no process outlives its parent', () => {
  it('ends every node when the parent is killed with SIGKILL', async () => {
    const pids = await parentThen('kill');
    expect(pids).to.have.length(2);
    await eventually(() => !pids.some(alive), 'node processes to exit after their parent died');
  });

  it('ends every node when the parent crashes with an uncaught error', async () => {
    const pids = await parentThen('throw');
    await eventually(() => !pids.some(alive), 'node processes to exit after their parent crashed');
  });
});

describe('quicksand CLI — arguments and the secret', () => {
  const run = (args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, QUICKSAND_SECRET: '', ...env }, encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stderr: r.stderr };
  };

  it('prints usage and exits 2 on bad arguments', () => {
    const bad = [[], ['nodes'], ['node', '--cpus', '1', '--memory', '1MiB'], ['node', '--listen', '127.0.0.1:0', '--cpus', 'x', '--memory', '1MiB'], ['node', '--listen', '127.0.0.1:0', '--cpus', '1', '--memory', 'lots'], ['node', '--bogus']];
    for (const args of bad) {
      const r = run(args, { QUICKSAND_SECRET: 'a'.repeat(32) });
      expect(r.status, args.join(' ')).to.equal(2);
      expect(r.stderr).to.contain('usage: quicksand node');
    }
  });

  it('refuses to start without a secret, or with a short one', () => {
    const none = run(['node', '--listen', '127.0.0.1:0', '--cpus', '1', '--memory', '1MiB']);
    expect(none.status).to.equal(2);
    expect(none.stderr).to.contain('no cluster secret');
    const short = run(['node', '--listen', '127.0.0.1:0', '--cpus', '1', '--memory', '1MiB'], { QUICKSAND_SECRET: 'short' });
    expect(short.status).to.equal(1);
    expect(short.stderr).to.contain('at least 16 bytes');
  });

  it('logs one line when ready (with the bulk lane port asked for) and leaves cleanly on SIGTERM', async () => {
    const free = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
    const child = spawn(process.execPath, [CLI, 'node', '--listen', '127.0.0.1:0', '--cpus', '0', '--memory', '1MiB', '--id', 'solo', '--bulk-port', String(free)], {
      env: { ...process.env, QUICKSAND_SECRET: 'b'.repeat(32) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    expect(line).to.match(new RegExp(`^quicksand node solo ready at ws://127\\.0\\.0\\.1:\\d+ \\(bulk lane port ${free}, cpus 0, memory 1\\.00 MiB, controller solo\\)\\n$`));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });

  it('tells peers the --advertise address instead of the listen address, and refuses a bad one', async () => {
    const child = spawn(process.execPath, [CLI, 'node', '--listen', '0.0.0.0:0', '--cpus', '0', '--memory', '1MiB', '--id', 'boxed', '--advertise', 'localhost'], {
      env: { ...process.env, QUICKSAND_SECRET: 'b'.repeat(32) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    expect(line).to.match(/^quicksand node boxed ready at ws:\/\/localhost:\d+ /);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).to.equal(0);
    const bad = run(['node', '--listen', '127.0.0.1:0', '--cpus', '0', '--memory', '1MiB', '--advertise', 'host:0'], { QUICKSAND_SECRET: 'b'.repeat(32) });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.contain('advertise port');
  });
});

describe('quicksand stats — a running cluster, seen from the command line', () => {
  const stats = (args: string[], secret: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, 'stats', ...args], { env: { ...process.env, QUICKSAND_SECRET: secret }, timeout: 20_000 }, (e, stdout, stderr) => {
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, stdout, stderr });
      });
    });

  it('prints the nodes and proclets (a table, or JSON), and says why when it cannot connect', async () => {
    const cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 0, memory: '32MiB' }], logs: 'silent' });
    try {
      const ref = await cluster.create(CounterType, [], { node: 'n1' });
      const [url0, url1] = localNodes(cluster).map((n) => n.url) as [string, string];
      const secret = localSecret(cluster);
      const json = await stats(['--connect', url1, '--json'], secret);
      expect(json.code, json.stderr).to.equal(0);
      const s = JSON.parse(json.stdout) as ClusterStats;
      expect(s.nodes.map((n) => [n.id, n.cpus, n.proclets.memory])).to.deep.equal([['n0', 1, 0], ['n1', 0, 1]]);
      expect(s.proclets.map((p) => [p.id, p.node])).to.deep.equal([[ref.id, 'n1']]);
      const table = await stats(['--connect', url0], secret);
      expect(table.code, table.stderr).to.equal(0);
      expect(table.stdout).to.match(/^cluster at ws:\/\/127\.0\.0\.1:\d+: 2 nodes \(0 lost\), 1 proclets, /);
      expect(table.stdout).to.match(/\nn1 +0 +0 +0 .*32\.0 MiB +1 \/ 0\n/);
      const wrong = await stats(['--connect', url0], 'not-the-secret-of-this-cluster');
      expect(wrong.code).to.equal(1);
      expect(wrong.stderr).to.contain(`could not connect to the cluster at ${url0}`);
      const usage = await stats([], secret);
      expect(usage.code).to.equal(2);
      expect(usage.stderr).to.contain('--connect ws://HOST:PORT is required');
      // The cluster is as it was: the clients left.
      expect(await ref.call('add', 1)).to.equal(1);
    } finally {
      await cluster.close();
    }
  });
});
