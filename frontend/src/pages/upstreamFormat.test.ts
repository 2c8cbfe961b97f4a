import { describe, expect, it } from "vitest";
import {
  duration,
  humanBytes,
  percent,
  upstreamCargoConfig,
  upstreamIndexUrl,
  utcMinute,
} from "./upstreamFormat";

describe("upstream page formatting", () => {
  it("formats sizes in binary units", () => {
    expect(humanBytes(0)).toBe("0 B");
    expect(humanBytes(1023)).toBe("1023 B");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(humanBytes(5 * 1024 * 1024)).toBe("5.0 MiB");
    expect(humanBytes(3.25 * 1024 ** 3)).toBe("3.3 GiB");
    expect(humanBytes(6 * 1024 ** 4)).toBe("6.0 TiB");
    expect(humanBytes(Number.NaN)).toBe("?");
  });

  it("formats the hit ratio as a percentage", () => {
    expect(percent(null)).toBe("–");
    expect(percent(0)).toBe("0.0 %");
    expect(percent(0.875)).toBe("87.5 %");
    expect(percent(1)).toBe("100.0 %");
  });

  it("formats the freshness period", () => {
    expect(duration(45)).toBe("45 s");
    expect(duration(300)).toBe("5 min");
    expect(duration(5400)).toBe("1 h 30 min");
    expect(duration(90)).toBe("1 min 30 s");
  });

  it("derives the pull-through index URL from the registry's index URL", () => {
    expect(upstreamIndexUrl("sparse+https://crates.example.com/index/")).toBe(
      "sparse+https://crates.example.com/upstream/index/",
    );
    expect(upstreamIndexUrl("sparse+https://example.com/raktar/index/")).toBe(
      "sparse+https://example.com/raktar/upstream/index/",
    );
    expect(upstreamIndexUrl("sparse+http://127.0.0.1:8080/index")).toBe(
      "sparse+http://127.0.0.1:8080/upstream/index/",
    );
  });

  it("writes the source replacement for cargo", () => {
    const config = upstreamCargoConfig("acme", "sparse+https://crates.example.com/index/");
    expect(config).toContain('[source.crates-io]\nreplace-with = "acme-upstream"');
    expect(config).toContain(
      '[registries.acme-upstream]\nindex = "sparse+https://crates.example.com/upstream/index/"',
    );
  });

  it("shows timestamps to the minute in UTC", () => {
    expect(utcMinute("2026-12-05T04:36:34.123Z")).toBe("2026-12-05 04:36 UTC");
  });
});
