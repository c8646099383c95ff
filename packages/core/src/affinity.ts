/**
 * Pinning a node's threads to CPU cores (Linux only), so that its compute workers and
 * its event loop do not take each other's cores.
 *
 * Why: a node's main thread wakes for every message (a finished batch, a call, a
 * migration), and the kernel often runs a woken thread on the core of the thread that
 * woke it, so the event loop takes turns with a compute worker on that worker's core even
 * when another core is idle. Measured in the filler experiment on the 2-core VM: with
 * every event loop on one core and the workers on the other, the share of the free core
 * the filler used was 0.88-0.99 against 0.78-0.91 with every thread free (19 runs, the
 * pinned layout higher in all). A node given `pinWorkers` and `pinMain` keeps the two
 * apart, as runtimes that dedicate cores to their scheduler do.
 *
 * How: Node.js has no affinity call, so the `taskset` tool (util-linux, present on
 * common Linux distributions) sets it: `taskset -p -c LIST TID` for one thread (a worker
 * finds its own thread id through `/proc/thread-self`), `-a` for every thread of the
 * process. Threads started later inherit the affinity of the thread that starts them,
 * so the worker threads a node starts after pinning its main thread inherit that, unless
 * they are pinned themselves.
 *
 * @internal
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';

/** The cores of a list like `0`, `0-3` or `0,2-3`, in order, without repeats. */
function coresOf(list: string): number[] | null {
  if (typeof list !== 'string' || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(list)) return null;
  const cores = new Set<number>();
  for (const part of list.split(',')) {
    const [a, b = a] = part.split('-').map(Number) as [number, number?];
    if (b < a || b - a > 4096) return null;
    for (let c = a; c <= b; c++) cores.add(c);
  }
  return [...cores].sort((x, y) => x - y);
}

/** The cores the calling thread may run on now, as listed in `/proc/thread-self/status`; null where that cannot be read (not Linux). */
export function threadCores(): string | null {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * Checks a core list given as option `name`: its syntax, that this is Linux, and that
 * every core in it exists. (Not that this process runs on it now: a thread may be moved
 * to any core of its cgroup, whatever the cores of the thread that started it.) Returns
 * the list.
 * @throws RangeError naming the option and what is wrong.
 */
export function checkCoreList(list: string, name: string): string {
  const cores = coresOf(list);
  if (cores === null) throw new RangeError(`${name} must list CPU cores like '0', '0-3' or '0,2-3', got '${String(list)}'`);
  if (threadCores() === null) throw new RangeError(`${name}: pinning threads to cores needs Linux (no /proc/thread-self on ${process.platform}); leave ${name} out`);
  const n = cpus().length;
  const missing = cores.filter((c) => c >= n);
  if (missing.length > 0) {
    throw new RangeError(`${name}: core${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist; this machine has cores 0-${n - 1}`);
  }
  return list;
}

/** Runs `taskset` with `args`; on failure throws `message(why)`, why being "not installed" or taskset's own words. */
function taskset(args: string[], message: (why: string) => string): void {
  try {
    execFileSync('taskset', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = err.code === 'ENOENT' ? 'the taskset tool is not installed (it comes with util-linux)' : `taskset failed: ${err.stderr?.toString().trim() || err.message}`;
    throw new Error(message(why), { cause: e });
  }
}

/**
 * Checks that the `taskset` tool runs here (a worker pins itself when it starts, long
 * after the node has started; better to refuse the start than to find out then).
 * @throws Error naming the option and what to do.
 */
export function checkTaskset(name: string): void {
  taskset(['-p', String(process.pid)], (why) => `${name}: ${why}; install it, or leave ${name} out`);
}

/** Pins the calling thread (a worker thread, or the main thread alone) to `list`. */
export function pinThread(list: string): void {
  const tid = readlinkSync('/proc/thread-self').split('/').pop()!;
  taskset(['-p', '-c', list, tid], (why) => `could not pin thread ${tid} to cores ${list}: ${why}`);
}

/**
 * Pins every thread that runs now of process `pid` (this one by default) to `list`;
 * threads started later inherit it from theirs.
 */
export function pinProcess(list: string, pid = process.pid): void {
  taskset(['-a', '-p', '-c', list, String(pid)], (why) => `could not pin process ${pid} to cores ${list}: ${why}`);
}

/**
 * The cores the calling thread may run on, in order, where threads can be pinned here
 * (Linux, with `taskset`); null elsewhere. For experiments that lay processes out on
 * cores of their own.
 */
export function pinnableCores(): number[] | null {
  const list = threadCores();
  if (list === null) return null;
  try {
    checkTaskset('pinning');
  } catch {
    return null;
  }
  return coresOf(list);
}
