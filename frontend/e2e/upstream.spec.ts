import { expect, test, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import path from "node:path";
import { rmSync } from "node:fs";
import { cli, indexPath, PASSWORD, publish, ROOT, startServer } from "./harness";

// The Upstream admin page against the e2e server, whose `--upstream-sparse` points at a second
// raktar (global-setup.ts) holding `up-serde` (fetched through the cache twice during the setup)
// and a namesake of the private `e2e-core`.
// `UPDATE_SCREENSHOTS=1 npx playwright test` refreshes the screenshots of docs/screenshots/.
const SHOTS =
  process.env.UPDATE_SCREENSHOTS === "1"
    ? path.join(ROOT, "docs", "screenshots")
    : path.join(import.meta.dirname, "..", "test-results", "screenshots");

function upstreamUrl(): string {
  const url = process.env.E2E_UPSTREAM_URL;
  if (!url) throw new Error("E2E_UPSTREAM_URL is not set (global setup did not run)");
  return url;
}

async function expectAccessible(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
  ).toEqual([]);
}

async function signIn(page: Page, login: string, next: string, base = "") {
  await page.goto(`${base}/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Login").fill(login);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === next);
}

function figure(page: Page, term: string) {
  return page
    .locator(".figures div")
    .filter({ has: page.locator("dt").getByText(term, { exact: true }) })
    .locator("dd");
}

test.describe.configure({ mode: "serial" });

test("the cache panel shows the figures, the most downloaded crates and the cargo configuration", async ({
  page,
}) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await signIn(page, "root", "/");
  // Administrators reach the page from the header, next to Users and Audit.
  await page.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "Upstream" }).click();
  await expect(page).toHaveURL(/\/admin\/upstream$/);
  await expect(page.getByRole("heading", { name: "Upstream", level: 1 })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Pull-through cache" })).toBeVisible();
  await expect(figure(page, "Upstream URL")).toHaveText(`${upstreamUrl()}/index/`);
  await expect(figure(page, "Freshness")).toHaveText("5 min");
  await expect(figure(page, "Index files")).toHaveText(/^1 \(\d+ B\)$/);
  await expect(figure(page, "Crate files")).toHaveText(/^1 \(\d+(\.\d)? (B|KiB)\)$/);
  // One miss and one hit for the index file; the .crate: one miss, one hit.
  await expect(figure(page, "Hit ratio")).toHaveText("50.0 %");
  await expect(figure(page, "Answers")).toContainText("2 hits, 0 revalidated, 0 stale, 2 misses");
  await expect(figure(page, "Upstream errors")).toHaveText("0");
  await expect(figure(page, "Refused files")).toContainText("0");
  const row = page.getByRole("row", { name: /up-serde/ });
  await expect(row).toContainText("1.0.0");
  await expect(row.getByRole("cell").nth(3)).toHaveText("2");

  const config = page.getByLabel("cargo configuration for the pull-through cache", { exact: true });
  await expect(config).toContainText('[source.crates-io]\nreplace-with = "raktar-upstream"');
  const origin = new URL(page.url()).origin;
  await expect(config).toContainText(
    `[registries.raktar-upstream]\nindex = "sparse+${origin}/upstream/index/"`,
  );

  await expectAccessible(page);
});

test("an administrator reserves a name, a duplicate and an invalid name are refused, then releases it", async ({
  page,
}) => {
  await signIn(page, "root", "/admin/upstream");
  const form = page.getByRole("form", { name: "Reserve a name" });
  await expect(page.getByText("No name is reserved.")).toBeVisible();

  await form.getByLabel("Crate name").fill("acme-internal");
  await form.getByLabel("Note").fill("our fork of the public crate");
  await form.getByRole("button", { name: "Reserve name" }).click();
  await expect(form.getByRole("status")).toHaveText("Reserved acme-internal.");
  const row = page.getByRole("row", { name: /acme-internal/ });
  await expect(row).toContainText("our fork of the public crate");
  await expect(row).toContainText("root");
  await expect(row.getByRole("cell").nth(4)).toHaveText("no");

  // The same name again: CONFLICT, shown next to the form.
  await form.getByLabel("Crate name").fill("acme-internal");
  await form.getByRole("button", { name: "Reserve name" }).click();
  await expect(form.getByRole("alert")).toHaveText("acme-internal is already reserved.");
  await expect(form.getByLabel("Crate name")).toHaveAttribute("aria-invalid", "true");

  // Not a crate name: BAD_USER_INPUT.
  await form.getByLabel("Crate name").fill("not a name!");
  await form.getByRole("button", { name: "Reserve name" }).click();
  await expect(form.getByRole("alert")).toContainText("not a name! is not a valid crate name");
  await expectAccessible(page);

  // A reserved name is not served from the upstream by the pull-through index.
  let asked = "";
  page.once("dialog", (d) => {
    asked = d.message();
    void d.accept();
  });
  await row.getByRole("button", { name: "Release acme-internal" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Released" })).toHaveText(
    "Released acme-internal.",
  );
  expect(asked).toContain("Release the name acme-internal?");
  await expect(row).toHaveCount(0);
  await expect(page.getByText("No name is reserved.")).toBeVisible();
});

test("name collisions are checked on request (and the whole page in both themes)", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await signIn(page, "root", "/admin/upstream");
  const form = page.getByRole("form", { name: "Reserve a name" });
  await form.getByLabel("Crate name").fill("acme-secret");
  await form.getByLabel("Note").fill("internal tooling, never public");
  await form.getByRole("button", { name: "Reserve name" }).click();
  await expect(page.getByRole("row", { name: /acme-secret/ })).toBeVisible();
  const panel = page.getByRole("region", { name: "Name collisions" });
  await expect(panel.getByRole("table")).toHaveCount(0);
  await panel.getByRole("button", { name: "Check for collisions" }).click();
  const row = panel.getByRole("row", { name: /e2e-core/ });
  await expect(row).toContainText("e2e-core");
  await expect(row).toContainText("no: investigate");
  await expect(panel.getByRole("row")).toHaveCount(2);
  await expect(panel.getByRole("button", { name: "Check again" })).toBeVisible();

  for (const theme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await page.evaluate(() => window.scrollTo(0, 0));
    await expectAccessible(page);
    await page.screenshot({ path: path.join(SHOTS, `admin-upstream-${theme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });

  // On a phone the page does not scroll sideways (wide tables scroll in their own box).
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByRole("heading", { name: "Name collisions" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({
    path: path.join(import.meta.dirname, "..", "test-results", "upstream-phone.png"),
    fullPage: true,
  });
});

test("an administrator purges one crate, then everything, and the figures follow", async ({
  page,
  request,
}) => {
  await signIn(page, "root", "/admin/upstream");
  const row = page.getByRole("row", { name: /up-serde/ });
  await row.getByRole("button", { name: "Purge up-serde from the cache" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Purged" })).toHaveText(
    /Purged the cached files of up-serde: 1 index file, 1 crate file \(.+\)\./,
  );
  await expect(row).toHaveCount(0);
  await expect(page.getByText("No crate has been fetched through the cache yet.")).toBeVisible();
  await expect(figure(page, "Index files")).toHaveText("0 (0 B)");
  await expect(figure(page, "Crate files")).toHaveText("0 (0 B)");

  // Fetch the index file again through the cache (a miss), then purge everything.
  const res = await request.get(`/upstream/index/${indexPath("up-serde")}`);
  expect(res.status()).toBe(200);
  expect(res.headers()["x-raktar-upstream"]).toBe("miss");
  await page.getByRole("button", { name: "Refresh figures" }).click();
  await expect(figure(page, "Index files")).toHaveText(/^1 \(/);
  let asked = "";
  page.once("dialog", (d) => {
    asked = d.message();
    void d.accept();
  });
  await page.getByRole("button", { name: "Purge everything" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Purged" })).toHaveText(
    /Purged the whole cache: 1 index file, 0 crate files \(.+\)\./,
  );
  expect(asked).toContain("Purge the whole upstream cache?");
  await expect(figure(page, "Index files")).toHaveText("0 (0 B)");

  // Dismissing the confirmation purges nothing.
  page.once("dialog", (d) => void d.dismiss());
  await page.getByRole("button", { name: "Purge everything" }).click();
  await expect(figure(page, "Index files")).toHaveText("0 (0 B)");
});

test("a member sees neither the Upstream link nor the page", async ({ page }) => {
  await signIn(page, "alice", "/");
  const nav = page.getByRole("navigation", { name: "Account" });
  await expect(nav.getByRole("link", { name: "Tokens" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Upstream" })).toHaveCount(0);
  await page.goto("/admin/upstream");
  await expect(page.getByRole("alert")).toContainText("Only administrators");
  await expect(page.getByRole("heading", { name: "Pull-through cache" })).toHaveCount(0);
  await expectAccessible(page);
});

test("anonymous visitors are asked to sign in", async ({ page }) => {
  await page.goto("/admin/upstream");
  await expect(page.getByRole("link", { name: "Sign in" }).last()).toBeVisible();
  await expect(page.getByRole("heading", { name: "Pull-through cache" })).toHaveCount(0);
});

/** A separate server (with its own administrator) for the states the shared one cannot show. */
async function withServer(args: string[], run: (url: string, dataDir: string) => Promise<void>) {
  const server = await startServer(true, args);
  try {
    cli(server.dataDir, ["user", "create", "root", "--admin"]);
    cli(server.dataDir, ["user", "set-password", "root"], `${PASSWORD}\n`);
    await run(server.url, server.dataDir);
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((resolve) => server.child.once("exit", resolve));
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}

test("without an upstream the page explains how to configure one", async ({ page }) => {
  await withServer([], async (url) => {
    await signIn(page, "root", "/admin/upstream", url);
    await expect(page.getByText("No upstream registry is configured.")).toBeVisible();
    await expect(page.locator(".not-configured")).toContainText("--upstream-sparse URL");
    await expect(page.locator(".not-configured")).toContainText("RAKTAR_UPSTREAM_SPARSE");
    await expect(page.getByLabel("cargo configuration for the pull-through cache")).toHaveCount(0);
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.screenshot({
      path: path.join(SHOTS, "admin-upstream-unconfigured-light.png"),
      fullPage: true,
    });
    // Reserving names works without an upstream too.
    await expect(page.getByText("No name is reserved.")).toBeVisible();
    await page.getByRole("button", { name: "Check for collisions" }).click();
    await expect(page.getByRole("alert")).toHaveText(
      "No upstream registry is configured, so there is nothing to compare the private crate names with.",
    );
    await expectAccessible(page);
  });
});

test("an unreachable upstream is reported when checking collisions", async ({ page }) => {
  // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
  await withServer(
    ["--upstream-sparse", "http://127.0.0.1:9/index/", "--upstream-unchecked-names", "allow"],
    async (url, dataDir) => {
      const token = cli(dataDir, ["token", "create", "--user", "root", "--name", "seed"]);
      expect(await publish(url, token, { name: "lonely", vers: "0.1.0" })).toBe(200);
      await signIn(page, "root", "/admin/upstream", url);
      await expect(figure(page, "Upstream URL")).toHaveText("http://127.0.0.1:9/index/");
      await page.getByRole("button", { name: "Check for collisions" }).click();
      await expect(page.getByRole("alert")).toContainText(
        "The upstream registry cannot be reached right now, so the names could not be compared.",
      );
    },
  );
});
