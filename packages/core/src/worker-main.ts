/**
 * The body of every compute worker thread: loads task modules (cached), runs one task per
 * message and posts the result back, transferring the ArrayBuffers the result owns.
 */
import { parentPort } from 'node:worker_threads';
import { toWireError } from './errors.js';

type TaskFn = (input: unknown) => unknown;
const modules = new Map<string, Record<string, unknown>>();
const sources = new Map<string, TaskFn>();

async function load(module: string | null, name: string | null, source: string | null): Promise<TaskFn> {
  if (source !== null) {
    let fn = sources.get(source);
    if (fn === undefined) {
      // Indirect eval: the function sees only globals, never this module's scope.
      const value: unknown = (0, eval)(`(${source})`);
      if (typeof value !== 'function') throw new TypeError('task source does not evaluate to a function');
      fn = value as TaskFn;
      sources.set(source, fn);
    }
    return fn;
  }
  if (module === null || name === null) throw new TypeError('task names neither a module export nor a source');
  let mod = modules.get(module);
  if (mod === undefined) {
    mod = (await import(module)) as Record<string, unknown>;
    modules.set(module, mod);
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new TypeError(`module ${module} has no exported function '${name}' (exports: ${Object.keys(mod).join(', ') || 'none'})`);
  return fn as TaskFn;
}

function owned(v: unknown, out: ArrayBuffer[]): void {
  if (v instanceof ArrayBuffer) {
    if (!out.includes(v)) out.push(v);
  } else if (ArrayBuffer.isView(v)) {
    const b = v.buffer;
    if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength && b.byteLength > 0 && !out.includes(b)) out.push(b);
  }
}

/** The ArrayBuffers a result owns outright, at top level or one level down. */
function transferables(result: unknown): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  owned(result, out);
  if (Array.isArray(result)) for (const x of result) owned(x, out);
  else if (result !== null && typeof result === 'object' && !ArrayBuffer.isView(result) && !(result instanceof ArrayBuffer)) {
    for (const x of Object.values(result)) owned(x, out);
  }
  return out;
}

const port = parentPort;
if (port === null) throw new Error('worker-main must run in a worker thread');
port.on('message', (msg: [number, string | null, string | null, string | null, unknown]) => {
  const [id, module, name, source, input] = msg;
  void (async () => {
    try {
      const fn = await load(module, name, source);
      const result = await fn(input);
      port.postMessage([id, true, result], transferables(result));
    } catch (e) {
      let err = e;
      if (source !== null && e instanceof ReferenceError) {
        err = new ReferenceError(`${e.message}: a task function shipped as source cannot use variables from outside it; pass what it needs in its input, or export the function from a module and use a module task`);
      }
      port.postMessage([id, false, toWireError(err)]);
    }
  })();
});
