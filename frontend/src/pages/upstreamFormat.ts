// Formatting for the Upstream admin page (pure functions, unit-tested).

/** Bytes as a human-readable size (binary units): `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A ratio (0..1) as a percentage with one decimal; null (no answer yet) as a dash. */
export function percent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "–";
  return `${(ratio * 100).toFixed(1)} %`;
}

/** A duration in seconds as `45 s`, `5 min`, `1 h 30 min`. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts: string[] = [];
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (s) parts.push(`${s} s`);
  return parts.join(" ");
}

/**
 * The pull-through index URL for cargo (`sparse+{public URL}/upstream/index/`), derived from the
 * registry's own index URL (`sparse+{public URL}/index/`).
 */
export function upstreamIndexUrl(indexUrl: string): string {
  const base = indexUrl
    .replace(/^sparse\+/, "")
    .replace(/\/+$/, "")
    .replace(/\/index$/, "");
  return `sparse+${base}/upstream/index/`;
}

/** The cargo configuration that replaces crates-io with this registry's pull-through cache. */
export function upstreamCargoConfig(registryName: string, indexUrl: string): string {
  const name = `${registryName}-upstream`;
  return [
    "# ~/.cargo/config.toml",
    "[source.crates-io]",
    `replace-with = "${name}"`,
    "",
    `[registries.${name}]`,
    `index = "${upstreamIndexUrl(indexUrl)}"`,
    "",
    "[registry]",
    'global-credential-providers = ["cargo:token"]',
  ].join("\n");
}

/** An ISO timestamp as `YYYY-MM-DD HH:MM UTC`. */
export function utcMinute(iso: string): string {
  return `${iso.replace("T", " ").slice(0, 16)} UTC`;
}
