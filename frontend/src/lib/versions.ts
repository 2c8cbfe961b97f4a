// Semantic-version ordering (SemVer 2.0 precedence; build metadata ignored) for the version list.

interface Parsed {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

function parse(v: string): Parsed | null {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return null;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    pre: m[4] ? m[4].split(".") : [],
  };
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 && b.length === 0) return 0;
  if (a.length === 0) return 1; // a release ranks above its pre-releases
  if (b.length === 0) return -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (xn) {
      return -1;
    } else if (yn) {
      return 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** Compares two version strings; unparsable ones sort below every valid version. */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) {
    if (pa) return 1;
    if (pb) return -1;
    return a.localeCompare(b);
  }
  return pa.major - pb.major || pa.minor - pb.minor || pa.patch - pb.patch || comparePre(pa.pre, pb.pre);
}

/** Newest first. */
export function sortVersionsDesc<V extends { version: string }>(versions: readonly V[]): V[] {
  return [...versions].sort((x, y) => compareVersions(y.version, x.version));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function formatDate(iso: string): string {
  return iso.slice(0, 10);
}

// One formatter for every count on a page (a new one per call costs more than the formatting).
const COUNT = new Intl.NumberFormat("en");

/** A count with thousands separators: 12,345. */
export function formatCount(n: number): string {
  return COUNT.format(n);
}
