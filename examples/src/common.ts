/**
 * Shared plumbing of the experiments: flags (`--json`, `--quick`), medians, a table, the
 * final JSON line, and where plots go. Proclet types live in `types.ts` (no side effects).
 */
import { join } from 'node:path';

/** Parsed command-line flags. */
export interface Flags {
  json: boolean;
  quick: boolean;
}

/** Reads the flags. */
export function flags(argv: string[] = process.argv.slice(2)): Flags {
  return { json: argv.includes('--json'), quick: argv.includes('--quick') };
}

/** Median of a list (NaN when empty). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rounds to a few significant digits. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const f = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * f) / f;
}

/** One row of the table. */
export interface Row {
  key: string;
  value: number | string | boolean | null;
  note?: string;
}

/** Prints a table and, with --json, one JSON object as the last line. */
export function report(name: string, rows: Row[], f: Flags, extra: Record<string, unknown> = {}): void {
  const w = Math.max(...rows.map((r) => r.key.length));
  console.log(`\n${name}${f.quick ? ' (quick)' : ''}`);
  for (const r of rows) {
    const v = typeof r.value === 'number' ? String(round(r.value)) : String(r.value);
    console.log(`  ${r.key.padEnd(w)}  ${v.padStart(12)}${r.note !== undefined ? `   ${r.note}` : ''}`);
  }
  const results: Record<string, unknown> = {};
  for (const r of rows) results[r.key] = typeof r.value === 'number' ? round(r.value, 4) : r.value;
  if (f.json) console.log(JSON.stringify({ example: name, results, ...extra }));
}

/** Where an experiment writes its plot: `out/<name>.svg` under the working directory. */
export function plotPath(name: string): string {
  return join(process.cwd(), 'out', `${name}.svg`);
}

/** Wall-clock milliseconds with sub-millisecond precision, shared by the processes of a machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
