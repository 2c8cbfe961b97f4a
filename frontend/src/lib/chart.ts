// Turns daily download counts into bars of an SVG chart (a chart is drawn only when some day has
// downloads: an all-zero series shows a sentence instead).

import { formatCount } from "./versions";

export interface Day {
  date: string;
  downloads: number;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  date: string;
  downloads: number;
}

export interface ChartData {
  bars: Bar[];
  max: number;
  total: number;
}

export function chartData(days: readonly Day[], width: number, height: number): ChartData | null {
  const total = days.reduce((s, d) => s + Math.max(0, d.downloads), 0);
  if (days.length === 0 || total === 0) return null;
  const max = Math.max(...days.map((d) => d.downloads));
  const slot = width / days.length;
  const bars = days.map((d, i) => {
    const h = Math.max(0, (d.downloads / max) * height);
    return {
      x: i * slot,
      y: height - h,
      width: Math.max(1, slot - 1),
      height: h,
      date: d.date,
      downloads: d.downloads,
    };
  });
  return { bars, max, total };
}

/** A sentence describing a download series, for readers who cannot see the chart. */
export function chartSummary(days: readonly Day[]): string {
  const total = days.reduce((s, d) => s + Math.max(0, d.downloads), 0);
  const n = days.length;
  const span = `${n} ${n === 1 ? "day" : "days"}`;
  if (total === 0) return `No downloads in the last ${span}.`;
  let peak = days[0];
  for (const d of days) if (peak === undefined || d.downloads > peak.downloads) peak = d;
  const week = days.slice(-7).reduce((s, d) => s + Math.max(0, d.downloads), 0);
  return (
    `${formatCount(total)} ${total === 1 ? "download" : "downloads"} in the last ${span}, ` +
    `${formatCount(week)} in the last ${Math.min(7, n)}; the busiest day was ${peak?.date ?? ""} ` +
    `with ${formatCount(peak?.downloads ?? 0)}.`
  );
}
