import type { EvaluationEntry, HistoryEntry } from "./checkpoint.js";

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Dashed lines for secondary series (e.g. training loss beside validation loss). */
  dashed?: boolean;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A self-contained SVG line chart (no dependencies), for loss curves and comparisons. */
export function lineChartSvg(series: readonly Series[], labels: { title: string; x: string; y: string }): string {
  // The legend sits right of the plot; its width follows the longest label (~7 px a character).
  const right = Math.max(120, 56 + 7 * Math.max(...series.map((s) => s.name.length)));
  const [w, h, left, top, bottom] = [560 + right, 420, 64, 40, 48];
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const pad = (y1 - y0) * 0.05 || 0.5;
  const [lo, hi] = [y0 - pad, y1 + pad];
  const X = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (w - left - right);
  const Y = (y: number) => top + (1 - (y - lo) / (hi - lo)) * (h - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2 - right / 2}" y="22" text-anchor="middle" font-size="15">${escape(labels.title)}</text>`,
  ];
  for (const t of ticks(lo, hi)) parts.push(`<line x1="${left}" x2="${w - right}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e5e5e5"/><text x="${left - 6}" y="${Y(t) + 4}" text-anchor="end">${t}</text>`);
  for (const t of ticks(x0, x1)) parts.push(`<text x="${X(t)}" y="${h - bottom + 16}" text-anchor="middle">${t}</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${w - left - right}" height="${h - top - bottom}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${left + (w - left - right) / 2}" y="${h - 8}" text-anchor="middle">${escape(labels.x)}</text>`);
  parts.push(`<text transform="translate(16 ${top + (h - top - bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(labels.y)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = s.points.filter((p) => Number.isFinite(p[1])).map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${s.dashed ? 1 : 2}"${s.dashed ? ' stroke-dasharray="4 3" opacity="0.7"' : ""}/>`);
    parts.push(`<line x1="${w - right + 12}" x2="${w - right + 34}" y1="${top + 14 + i * 18}" y2="${top + 14 + i * 18}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/><text x="${w - right + 40}" y="${top + 18 + i * 18}">${escape(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Training loss (smoothed over 10 steps) and validation loss against steps. */
export function lossCurveSvg(history: readonly HistoryEntry[], evaluations: readonly EvaluationEntry[]): string {
  const smoothed = history.map((h, i) => {
    const window = history.slice(Math.max(0, i - 9), i + 1);
    return [h.step, window.reduce((s, e) => s + e.loss, 0) / window.length] as const;
  });
  return lineChartSvg(
    [
      { name: "train (10-step mean)", points: smoothed, dashed: true },
      { name: "validation", points: evaluations.map((e) => [e.step, e.loss] as const) },
    ],
    { title: "Loss", x: "step", y: "cross-entropy (nats/token)" },
  );
}

/** Charts from `lineChartSvg` side by side in one SVG, `columns` to a row (default: all in one row). */
export function panelsSvg(charts: readonly string[], options: { columns?: number } = {}): string {
  const size = (svg: string): { width: number; height: number } => {
    const m = /<svg[^>]*\bwidth="(\d+(?:\.\d+)?)"[^>]*\bheight="(\d+(?:\.\d+)?)"/.exec(svg);
    return { width: Number(m?.[1] ?? 0), height: Number(m?.[2] ?? 0) };
  };
  const columns = Math.max(1, options.columns ?? charts.length);
  const cell = { width: Math.max(0, ...charts.map((c) => size(c).width)), height: Math.max(0, ...charts.map((c) => size(c).height)) };
  const placed = charts.map((svg, i) => svg.replace("<svg ", `<svg x="${(i % columns) * cell.width}" y="${Math.floor(i / columns) * cell.height}" `));
  const width = Math.min(columns, charts.length) * cell.width;
  const height = Math.ceil(charts.length / columns) * cell.height;
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="${width}" height="${height}" fill="white"/>`, ...placed, "</svg>"].join("\n");
}
