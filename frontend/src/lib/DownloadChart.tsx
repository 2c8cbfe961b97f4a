import { useId } from "react";
import { chartData, chartSummary, type Day } from "./chart";

const W = 300;
const H = 80;

/**
 * Daily downloads as an SVG bar chart with a title and a text summary (also the chart's
 * accessible description); only the summary sentence when there were no downloads.
 */
export function DownloadChart({ days, title }: { days: readonly Day[]; title: string }) {
  const id = useId();
  const data = chartData(days, W, H);
  const summary = chartSummary(days);
  const first = days[0]?.date ?? "";
  const last = days[days.length - 1]?.date ?? "";
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} className="chart-title">
        {title}
      </figcaption>
      {data && (
        <>
          <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-svg-title ${id}-summary`}>
            <title id={`${id}-svg-title`}>{`${title}, ${first} to ${last}`}</title>
            {data.bars.map((b) => (
              <rect key={b.date} x={b.x} y={b.y} width={b.width} height={b.height}>
                <title>{`${b.date}: ${b.downloads}`}</title>
              </rect>
            ))}
          </svg>
          <div className="chart-axis muted" aria-hidden="true">
            <span>{first}</span>
            <span>{last}</span>
          </div>
        </>
      )}
      <p id={`${id}-summary`} className="muted chart-summary">
        {summary}
      </p>
    </figure>
  );
}
