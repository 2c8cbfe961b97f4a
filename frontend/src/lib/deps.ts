// Groups a version's dependencies for display: by kind (normal, build, dev; unknown kinds last),
// then by target (no target first, then targets alphabetically), names sorted within a group.

export interface DepLike {
  name: string;
  kind: string;
  target?: string | null;
  optional: boolean;
}

export interface DepGroup<D extends DepLike> {
  kind: string;
  target: string | null;
  deps: D[];
}

const KIND_ORDER = ["NORMAL", "BUILD", "DEV"];

export function kindLabel(kind: string): string {
  switch (kind) {
    case "NORMAL":
      return "Dependencies";
    case "BUILD":
      return "Build dependencies";
    case "DEV":
      return "Dev dependencies";
    default:
      return `${kind.toLowerCase()} dependencies`;
  }
}

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

export function groupDependencies<D extends DepLike>(deps: readonly D[]): DepGroup<D>[] {
  const groups = new Map<string, DepGroup<D>>();
  for (const dep of deps) {
    const target = dep.target ?? null;
    const key = `${dep.kind}\u0000${target ?? ""}`;
    let group = groups.get(key);
    if (!group) {
      group = { kind: dep.kind, target, deps: [] };
      groups.set(key, group);
    }
    group.deps.push(dep);
  }
  const list = [...groups.values()];
  for (const g of list) g.deps.sort((a, b) => a.name.localeCompare(b.name));
  list.sort((a, b) => {
    const k = kindRank(a.kind) - kindRank(b.kind) || a.kind.localeCompare(b.kind);
    if (k !== 0) return k;
    if (a.target === b.target) return 0;
    if (a.target === null) return -1;
    if (b.target === null) return 1;
    return a.target.localeCompare(b.target);
  });
  return list;
}
