import { describe, expect, it } from "vitest";
import { groupDependencies, kindLabel } from "./deps";
import { compareVersions, formatBytes, sortVersionsDesc } from "./versions";
import { chartData, chartSummary } from "./chart";
import { readmeBase, resolveLink } from "./links";

describe("groupDependencies", () => {
  it("groups by kind then target, sorted", () => {
    const groups = groupDependencies([
      { name: "zeta", kind: "NORMAL", target: null, optional: false },
      { name: "tempfile", kind: "DEV", target: null, optional: false },
      { name: "libc", kind: "NORMAL", target: "cfg(unix)", optional: true },
      { name: "alpha", kind: "NORMAL", target: null, optional: false },
      { name: "cc", kind: "BUILD", target: null, optional: false },
      { name: "winapi", kind: "NORMAL", target: "cfg(windows)", optional: false },
      { name: "odd", kind: "FUTURE", target: null, optional: false },
    ]);
    expect(groups.map((g) => [g.kind, g.target, g.deps.map((d) => d.name)])).toEqual([
      ["NORMAL", null, ["alpha", "zeta"]],
      ["NORMAL", "cfg(unix)", ["libc"]],
      ["NORMAL", "cfg(windows)", ["winapi"]],
      ["BUILD", null, ["cc"]],
      ["DEV", null, ["tempfile"]],
      ["FUTURE", null, ["odd"]],
    ]);
    expect(kindLabel("BUILD")).toBe("Build dependencies");
  });
  it("returns nothing for no dependencies", () => {
    expect(groupDependencies([])).toEqual([]);
  });
});

describe("versions", () => {
  it("orders by semver precedence", () => {
    const sorted = sortVersionsDesc(
      [
        "0.9.0",
        "1.0.0-alpha",
        "1.0.0",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.10.0",
        "1.2.0",
        "1.0.0-rc.1+build.5",
      ].map((version) => ({ version })),
    ).map((v) => v.version);
    expect(sorted).toEqual([
      "1.10.0",
      "1.2.0",
      "1.0.0",
      "1.0.0-rc.1+build.5",
      "1.0.0-beta",
      "1.0.0-alpha.1",
      "1.0.0-alpha",
      "0.9.0",
    ]);
  });
  it("ranks numeric identifiers below alphanumeric ones and ignores build metadata", () => {
    expect(compareVersions("1.0.0-2", "1.0.0-a")).toBeLessThan(0);
    expect(compareVersions("1.0.0+a", "1.0.0+b")).toBe(0);
    expect(compareVersions("garbage", "0.0.1")).toBeLessThan(0);
  });
  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(2048)).toBe("2.0 KiB");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3.0 MiB");
  });
});

describe("chartData", () => {
  it("is null without downloads", () => {
    expect(chartData([], 100, 50)).toBeNull();
    expect(chartData([{ date: "2026-01-01", downloads: 0 }], 100, 50)).toBeNull();
  });
  it("scales bars to the highest day", () => {
    const data = chartData(
      [
        { date: "2026-01-01", downloads: 0 },
        { date: "2026-01-02", downloads: 5 },
        { date: "2026-01-03", downloads: 10 },
        { date: "2026-01-04", downloads: 5 },
      ],
      100,
      50,
    );
    expect(data?.max).toBe(10);
    expect(data?.total).toBe(20);
    expect(data?.bars.map((b) => b.height)).toEqual([0, 25, 50, 25]);
    expect(data?.bars.map((b) => b.x)).toEqual([0, 25, 50, 75]);
  });
});

describe("chartSummary", () => {
  it("says so when there were no downloads", () => {
    expect(chartSummary([{ date: "2026-01-01", downloads: 0 }])).toBe("No downloads in the last 1 day.");
  });
  it("gives the total, the last week and the busiest day", () => {
    const days = Array.from({ length: 10 }, (_, i) => ({
      date: `2026-01-${String(i + 1).padStart(2, "0")}`,
      downloads: i === 1 ? 1500 : 1,
    }));
    expect(chartSummary(days)).toBe(
      "1,509 downloads in the last 10 days, 7 in the last 7; the busiest day was 2026-01-02 with 1,500.",
    );
  });
});

describe("links", () => {
  it("builds a repository base", () => {
    expect(readmeBase("https://github.com/a/b.git")?.href).toBe("https://github.com/a/b/blob/HEAD/");
    expect(readmeBase("https://git.example/a/b")?.href).toBe("https://git.example/a/b/");
    expect(readmeBase("javascript:alert(1)")).toBeNull();
    expect(readmeBase(null)).toBeNull();
  });
  it("refuses unsafe protocols", () => {
    expect(resolveLink("javascript:alert(1)", null)).toBeNull();
    expect(resolveLink(" JavaScript:alert(1)", readmeBase("https://git.example/a/b"))).toBeNull();
    expect(resolveLink("#usage", null)).toBe("#usage");
    expect(resolveLink("https://x.example/", null)).toBe("https://x.example/");
  });
});
