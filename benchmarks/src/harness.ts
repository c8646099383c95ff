/**
 * Shared benchmark plumbing: flags (`--json`, `--quick`), medians, a human table, and the
 * final JSON line `{"bench": name, "results": {...}}`.
 */

/** Parsed command-line flags of a benchmark. */
export interface BenchFlags {
  json: boolean;
  quick: boolean;
}

/** Reads the flags from argv. */
export function flags(argv: string[] = process.argv.slice(2)): BenchFlags {
  return { json: argv.includes('--json'), quick: argv.includes('--quick') };
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0..100) of a list. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Nanoseconds since an arbitrary point, as a number. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Rounds to a few significant digits for the table and JSON. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  if (x === 0) return 0;
  const mag = Math.floor(Math.log10(Math.abs(x)));
  const f = 10 ** Math.max(0, digits - 1 - mag);
  return Math.round(x * f) / f;
}

/** One row of the human table. */
export interface Row {
  key: string;
  value: number | string | boolean | null;
  note?: string;
}

/** Prints the table and, with --json, the result line last. */
export function report(bench: string, rows: Row[], f: BenchFlags, extra: Record<string, unknown> = {}): void {
  const w = Math.max(...rows.map((r) => r.key.length));
  console.log(`\n${bench} benchmark${f.quick ? ' (quick)' : ''}`);
  for (const r of rows) {
    const v = typeof r.value === 'number' ? String(round(r.value)) : String(r.value);
    console.log(`  ${r.key.padEnd(w)}  ${v.padStart(14)}${r.note ? `   ${r.note}` : ''}`);
  }
  const results: Record<string, unknown> = { ...extra };
  for (const r of rows) results[r.key] = typeof r.value === 'number' ? round(r.value, 4) : r.value;
  if (f.json) console.log(JSON.stringify({ bench, results }));
}

/** Lets the event loop run (timers, I/O) between measurement rounds. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
