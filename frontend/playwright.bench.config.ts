import { defineConfig } from "@playwright/test";
import e2e from "./playwright.config";

// The UI benchmark (`cargo xtask bench-ui` runs it against a seeded release server; see
// docs/performance.md): the end-to-end suite's browser settings (Debian's Chromium, headless, one
// worker), its own tests, no global setup (the xtask starts the server): figures, not assertions.
export default defineConfig({
  ...e2e,
  testDir: "bench",
  testMatch: "*.bench.ts",
  globalSetup: undefined,
  timeout: 300_000,
  use: { ...e2e.use, baseURL: process.env.BENCH_BASE_URL, viewport: { width: 1280, height: 900 } },
});
