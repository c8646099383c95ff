import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { LocalCluster, startNode } from '@quicksand/net';
import { PlacementType } from './fixtures/types.js';
import { rejects } from './helpers.js';

/** The cores this process may use, or null where it cannot tell (not Linux). */
function allowed(): string[] | null {
  try {
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (list === undefined) return null;
    return list.split(',').flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number) as [number, number?];
      return Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
    });
  } catch {
    return null;
  }
}

describe('pinning a node to cores — pinWorkers and pinMain (Linux)', function () {
  this.timeout(30_000);
  const cores = allowed();
  const canPin = cores !== null && cores.length >= 2 && spawnSync('taskset', ['-V']).status === 0;

  it('runs the compute workers on pinWorkers and the event loop on pinMain', async function () {
    if (!canPin) this.skip(); // needs Linux, two cores and taskset
    const [workers, main] = [cores[0], cores[1]];
    const cluster = await LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB' }, { cpus: 2, memory: '64MiB', pinWorkers: workers, pinMain: main }], logs: 'silent' });
    try {
      const p = await cluster.create(PlacementType, [], { node: 'n1' });
      expect(await p.call('mainCores')).to.equal(main);
      expect(await p.call('workerCores', 2)).to.deep.equal([workers, workers]);
      // The node without pinning keeps every core.
      const q = await cluster.create(PlacementType, [], { node: 'n0' });
      expect(await q.call('mainCores')).to.equal(readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)![1]);
    } finally {
      await cluster.close();
    }
  });

  it('refuses a malformed core list, or a core the machine does not have, naming the option', async () => {
    const bad = await rejects(LocalCluster.start({ nodes: [{ cpus: 1, memory: '64MiB', pinWorkers: '1-0' }] }));
    expect(bad).to.be.instanceOf(RangeError);
    expect(bad.message).to.match(/options\.nodes\[0\]\.pinWorkers must list CPU cores like '0', '0-3' or '0,2-3', got '1-0'/);
    if (cores === null) return; // not Linux: a well-formed list is refused for that reason instead
    const missing = await rejects(startNode({ listen: '127.0.0.1:0', cpus: 1, memory: '64MiB', secret: randomBytes(16).toString('hex'), pinMain: '4000' }));
    expect(missing).to.be.instanceOf(RangeError);
    expect(missing.message).to.match(/pinMain: core 4000 does not exist; this machine has cores 0-\d+/);
  });

  it('refuses to start when taskset is missing, saying what to install', async function () {
    if (cores === null) this.skip(); // needs Linux (elsewhere the list is refused first)
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const e = await rejects(startNode({ listen: '127.0.0.1:0', cpus: 1, memory: '64MiB', secret: randomBytes(16).toString('hex'), pinWorkers: '0' }));
      expect(e.message).to.match(/pinWorkers: the taskset tool is not installed \(it comes with util-linux\); install it, or leave pinWorkers out/);
    } finally {
      process.env.PATH = path;
    }
  });
});
