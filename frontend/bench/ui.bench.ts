// Browser figures for `cargo xtask bench-ui`, which seeds a release `raktar serve` (10,000 crates
// and one crate with 80 versions and a 30 KB README), then runs this with:
//   BENCH_BASE_URL, BENCH_CRATE, BENCH_LOGIN, BENCH_PASSWORD, BENCH_ROUNDS, BENCH_QUERIES (JSON
//   array of search terms), BENCH_OUT (where the JSON figures go).
// It measures, in headless Chromium on loopback:
// - the crate page's largest contentful paint, each round in a fresh browser context (empty HTTP
//   cache, signed in), the first round a warm-up;
// - search as you type: for each term, typed a character at a time into the header's box, the time
//   from the input event to the suggestions for exactly that text being in the document, and to the
//   next frame after it;
// - the JavaScript the first page load fetches (transfer and decoded sizes).
import { test, type Page } from "@playwright/test";
import { writeFileSync } from "node:fs";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through \`cargo xtask bench-ui\`)`);
  return v;
}

interface Lcp {
  ms: number;
  element: string;
  size: number;
  readmeVisibleMs: number;
  responseEndMs: number;
}

async function largestContentfulPaint(page: Page): Promise<Lcp> {
  return page.evaluate(async () => {
    // Two frames after the content is there, so the last candidate has been reported.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const entries = await new Promise<PerformanceEntryList>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no largest-contentful-paint entry")), 5000);
      new PerformanceObserver((list) => {
        clearTimeout(timer);
        resolve(list.getEntries());
      }).observe({ type: "largest-contentful-paint", buffered: true });
    });
    const last = entries[entries.length - 1] as PerformanceEntry & {
      element?: Element | null;
      size: number;
      renderTime: number;
      loadTime: number;
    };
    const el = last.element;
    const marks = performance.getEntriesByName("bench-readme-visible");
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
    return {
      ms: last.startTime,
      element: el ? `${el.tagName.toLowerCase()}${el.closest(".readme") ? " in the README" : ""}` : "?",
      size: last.size,
      readmeVisibleMs: marks[0]?.startTime ?? -1,
      responseEndMs: nav?.responseEnd ?? -1,
    };
  });
}

test("UI figures", async ({ browser, baseURL }) => {
  const crate = env("BENCH_CRATE");
  const rounds = Number(env("BENCH_ROUNDS"));
  const queries = JSON.parse(env("BENCH_QUERIES")) as string[];

  // Sign in once; every round reuses the session cookie in a fresh context (cold HTTP cache).
  const signInContext = await browser.newContext({ baseURL });
  const res = await signInContext.request.post("/auth/signin", {
    data: { login: env("BENCH_LOGIN"), password: env("BENCH_PASSWORD") },
    headers: { Accept: "application/json" },
  });
  if (!res.ok()) throw new Error(`sign-in failed: ${res.status()} ${await res.text()}`);
  const storageState = await signInContext.storageState();
  await signInContext.close();

  // 1. The crate page.
  const lcp: Lcp[] = [];
  let scripts: { name: string; transfer: number; decoded: number }[] = [];
  // The requests of one load, in order (where the time of a load goes).
  let waterfall: { name: string; start: number; end: number }[] = [];
  for (let round = 0; round <= rounds; round++) {
    const context = await browser.newContext({ baseURL, storageState });
    const page = await context.newPage();
    // Mark the moment the README's text is in the document (a check that LCP saw the README).
    await page.addInitScript(() => {
      const observer = new MutationObserver(() => {
        if (document.querySelector(".readme-body > *")) {
          performance.mark("bench-readme-visible");
          observer.disconnect();
        }
      });
      document.addEventListener("DOMContentLoaded", () =>
        observer.observe(document.body, { childList: true, subtree: true }),
      );
    });
    await page.goto(`/crates/${encodeURIComponent(crate)}`, { waitUntil: "load" });
    await page.locator(".readme-body > *").first().waitFor();
    await page.getByRole("heading", { name: "Versions" }).waitFor();
    const figures = await largestContentfulPaint(page);
    if (round > 0) lcp.push(figures);
    if (round === 1) {
      waterfall = await page.evaluate(() =>
        (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).map((r) => ({
          name: new URL(r.name).pathname + (r.initiatorType === "fetch" ? " (fetch)" : ""),
          start: Math.round(r.startTime),
          end: Math.round(r.responseEnd),
        })),
      );
      scripts = await page.evaluate(() =>
        (performance.getEntriesByType("resource") as PerformanceResourceTiming[])
          .filter((r) => r.initiatorType === "script" || r.name.endsWith(".js"))
          .map((r) => ({
            name: new URL(r.name).pathname,
            transfer: r.transferSize,
            decoded: r.decodedBodySize,
          })),
      );
    }
    await context.close();
    // Each load starts on a quiet machine (not while the last context's renderer shuts down).
    await new Promise((r) => setTimeout(r, 500));
  }

  // 2. Search as you type, on the home page of one signed-in context.
  const context = await browser.newContext({ baseURL, storageState });
  const page = await context.newPage();
  await page.goto("/");
  await page.locator("#header-q").waitFor();
  const keystrokes: { term: string; domMs: number; frameMs: number; shown: number; total: number }[] = [];
  // Each term is measured once: a term typed before is answered from the client's cache.
  const seen = new Set<string>();
  for (const query of queries) {
    for (let i = 1; i <= query.length; i++) {
      const term = query.slice(0, i);
      if (term.trim() !== term || seen.has(term)) continue; // a trailing space asks nothing new
      seen.add(term);
      keystrokes.push(
        await page.evaluate(async (text) => {
          const input = document.getElementById("header-q") as HTMLInputElement;
          const list = document.querySelector("[role=listbox]") as HTMLElement;
          const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")?.set;
          if (!setValue) throw new Error("no value setter");
          input.focus();
          const t0 = performance.now();
          const shown = new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no suggestions for ${text}`)), 5000);
            const done = () => {
              if (list.dataset.query === text) {
                clearTimeout(timer);
                observer.disconnect();
                resolve(performance.now());
                return true;
              }
              return false;
            };
            const observer = new MutationObserver(done);
            observer.observe(list, { attributes: true, childList: true, subtree: true });
          });
          setValue.call(input, text);
          input.dispatchEvent(new Event("input", { bubbles: true }));
          const t1 = await shown;
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
          const t2 = performance.now();
          const footer = list.parentElement?.querySelector(".suggestion-footer")?.textContent ?? "";
          return {
            term: text,
            domMs: t1 - t0,
            frameMs: t2 - t0,
            shown: list.querySelectorAll("[role=option]").length,
            total: Number(/^(\d+)/.exec(footer)?.[1] ?? 0),
          };
        }, term),
      );
    }
    // Clear the box between terms (the next term starts from its first letter).
    await page.evaluate(() => {
      const input = document.getElementById("header-q") as HTMLInputElement;
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")?.set?.call(input, "");
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }
  await context.close();

  writeFileSync(env("BENCH_OUT"), JSON.stringify({ lcp, scripts, waterfall, keystrokes }, null, 2));
});
