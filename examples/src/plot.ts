/**
 * A small SVG line/step chart writer for the examples' plots (no dependencies).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** One line of a chart. */
export interface Series {
  name: string;
  points: Array<[x: number, y: number]>;
  /** Draw as steps (a value holds until the next point). */
  step?: boolean;
}

/** A chart. */
export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range; default from the data. */
  yMin?: number;
  yMax?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function ticks(min: number, max: number, n = 5): number[] {
  const span = max - min || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Renders a chart as an SVG document. */
export function renderChart(chart: Chart, width = 800, height = 400): string {
  const m = { l: 70, r: 160, t: 40, b: 50 };
  const all = chart.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, 1);
  const yMin = chart.yMin ?? Math.min(...ys, 0);
  const yMax = chart.yMax ?? Math.max(...ys, 1) * 1.05;
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sx = (x: number): number => m.l + ((x - xMin) / (xMax - xMin || 1)) * W;
  const sy = (y: number): number => m.t + H - ((y - yMin) / (yMax - yMin || 1)) * H;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${m.l + W / 2}" y="22" text-anchor="middle" font-size="15">${esc(chart.title)}</text>`,
  ];
  for (const t of ticks(xMin, xMax)) {
    parts.push(`<line x1="${sx(t)}" y1="${m.t}" x2="${sx(t)}" y2="${m.t + H}" stroke="#eee"/>`, `<text x="${sx(t)}" y="${m.t + H + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(yMin, yMax)) {
    parts.push(`<line x1="${m.l}" y1="${sy(t)}" x2="${m.l + W}" y2="${sy(t)}" stroke="#eee"/>`, `<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 10}" text-anchor="middle">${esc(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + H / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}</text>`);
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    let d = '';
    s.points.forEach(([x, y], k) => {
      if (k === 0) d += `M${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      else if (s.step === true) d += `H${sx(x).toFixed(1)}V${sy(y).toFixed(1)}`;
      else d += `L${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(`<rect x="${m.l + W + 12}" y="${m.t + i * 20}" width="12" height="12" fill="${color}"/>`, `<text x="${m.l + W + 30}" y="${m.t + i * 20 + 10}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes a chart to `path` (creating its folder); returns the path. */
export function writeChart(path: string, chart: Chart): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderChart(chart));
  return path;
}
