import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
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
