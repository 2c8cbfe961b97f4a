import { defineConfig } from "@playwright/test";

// The UI benchmark (`cargo xtask bench-ui` runs it against a seeded release server; see
// docs/performance.md). Debian's Chromium, headless, one worker: figures, not assertions.
export default defineConfig({
  testDir: "bench",
  testMatch: "*.bench.ts",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 300_000,
  reporter: [["list"]],
  use: {
    baseURL: process.env.BENCH_BASE_URL,
    headless: true,
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "off",
  },
});
