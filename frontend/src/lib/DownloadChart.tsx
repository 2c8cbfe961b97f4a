import { chartData, type Day } from "./chart";

const W = 300;
const H = 80;

/** Daily downloads as an SVG bar chart; a sentence when there were none. */
export function DownloadChart({ days }: { days: readonly Day[] }) {
  const data = chartData(days, W, H);
  if (!data) return <p className="muted">No downloads in the last {days.length} days.</p>;
  const first = days[0]?.date ?? "";
  const last = days[days.length - 1]?.date ?? "";
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Daily downloads from ${first} to ${last}: ${data.total} in total, at most ${data.max} a day`}
      >
        {data.bars.map((b) => (
          <rect key={b.date} x={b.x} y={b.y} width={b.width} height={b.height}>
            <title>{`${b.date}: ${b.downloads}`}</title>
          </rect>
        ))}
      </svg>
      <figcaption className="muted">
        Daily downloads, {first} to {last}
      </figcaption>
    </figure>
  );
}
