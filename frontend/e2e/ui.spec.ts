import { expect, test, type Locator, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { rmSync } from "node:fs";
import path from "node:path";
import { cli, indexPath, PASSWORD, publish, ROOT, startServer } from "./harness";

// `UPDATE_SCREENSHOTS=1 npx playwright test` refreshes the screenshots of docs/screenshots/.
const SHOTS =
  process.env.UPDATE_SCREENSHOTS === "1"
    ? path.join(ROOT, "docs", "screenshots")
    : path.join(import.meta.dirname, "..", "test-results", "screenshots");

function baseUrl(): string {
  const url = process.env.E2E_BASE_URL;
  if (!url) throw new Error("E2E_BASE_URL is not set (global setup did not run)");
  return url;
}

async function expectAccessible(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
  ).toEqual([]);
}

/** Screenshots in both themes, each checked with axe. */
async function shootBothThemes(page: Page, name: string) {
  for (const theme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await page.evaluate(() => window.scrollTo(0, 0));
    await expectAccessible(page);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${theme}.png`), fullPage: false });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Screenshots of one part of a page in both themes, each checked with axe. */
async function shootSection(page: Page, section: Locator, name: string) {
  for (const theme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: theme });
    await section.scrollIntoViewIfNeeded();
    await expectAccessible(page);
    await section.screenshot({ path: path.join(SHOTS, `${name}-${theme}.png`) });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function signIn(page: Page, login: string, next: string, password = PASSWORD) {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Login").fill(login);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === next);
}

test("home page: getting started with this registry's configuration, crate listing", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Getting started" })).toBeVisible();
  const config = page.getByLabel("cargo configuration", { exact: true });
  await expect(config).toContainText(`index = "sparse+${baseUrl()}/index/"`);
  await expect(config).toContainText('global-credential-providers = ["cargo:token"]');
  await expect(page.getByLabel("cargo login command", { exact: true }).first()).toHaveText(
    "cargo login --registry raktar",
  );
  await expect(page.getByRole("link", { name: "All 29 crates" })).toBeVisible();
  await expect(page.getByLabel("registry statistics")).toContainText("29 crates");
  await shootBothThemes(page, "home");
});

test("search ranks like cargo search and pages through results", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Search crates").first().fill("pager");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Results for “pager”" })).toBeVisible();
  await expect(page.getByText("25 crates · page 1")).toBeVisible();
  await expect(page.locator(".crate-list li")).toHaveCount(20);
  await expect(page.locator(".crate-list li").first()).toContainText("pager-00");
  await expectAccessible(page);
  await page.getByRole("link", { name: "Next page →" }).click();
  await expect(page.getByText("25 crates · page 2")).toBeVisible();
  await expect(page.locator(".crate-list li")).toHaveCount(5);
  await expect(page.locator(".crate-list li").last()).toContainText("pager-24");
  await expect(page.getByRole("link", { name: "Next page →" })).toHaveCount(0);
  // The sort is part of the URL and survives paging.
  await page.getByLabel("Sort by").selectOption("NEWLY_ADDED");
  await expect(page).toHaveURL(/sort=NEWLY_ADDED/);
  await expect(page.getByText("25 crates · page 1")).toBeVisible();
  await page.getByLabel("Sort by").selectOption("NAME");
  await expect(page).toHaveURL(/sort=NAME/);
  await expect(page.locator(".crate-list li").first()).toContainText("pager-00");
  await page.getByRole("link", { name: "Next page →" }).click();
  await expect(page).toHaveURL(/sort=NAME.*page=2/);
  await expect(page.locator(".crate-list li").last()).toContainText("pager-24");
  // exact name first
  await page.goto("/search?q=e2e-core");
  await expect(page.locator(".crate-list li").first()).toContainText("e2e-core");
  await page.goto("/search?q=no-such-thing-anywhere");
  await expect(page.getByText("No crate matches “no-such-thing-anywhere”.")).toBeVisible();
  await expectAccessible(page);
});

test("search as you type: suggestions while typing, walked with the keyboard", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto("/");
  const box = page.getByRole("combobox", { name: "Search crates" });
  const list = page.getByRole("listbox", { name: "Matching crates" });
  await box.click();
  await page.keyboard.type("pager");
  await expect(box).toHaveAttribute("aria-expanded", "true");
  await expect(list).toHaveAttribute("data-query", "pager");
  await expect(list.getByRole("option")).toHaveCount(8);
  await expect(page.getByText("25 crates: Enter shows them all.")).toBeVisible();
  await shootBothThemes(page, "search-suggestions");
  // Each keystroke narrows the list; the exact name comes first.
  await page.keyboard.type("-07");
  await expect(list).toHaveAttribute("data-query", "pager-07");
  await expect(list.getByRole("option").first()).toContainText("pager-07");
  // Down highlights the first suggestion, Enter opens it.
  await page.keyboard.press("ArrowDown");
  const first = list.getByRole("option").first();
  await expect(first).toHaveAttribute("aria-selected", "true");
  await expect(box).toHaveAttribute("aria-activedescendant", (await first.getAttribute("id")) ?? "");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/crates\/pager-07$/);
  await expect(page.getByRole("heading", { name: "pager-07", level: 1 })).toBeVisible();
  await expect(box).toHaveAttribute("aria-expanded", "false");
  // Escape closes the list; nothing found says so; a click opens a suggestion.
  await box.fill("e2e-co");
  await expect(list).toHaveAttribute("data-query", "e2e-co");
  await page.keyboard.press("Escape");
  await expect(box).toHaveAttribute("aria-expanded", "false");
  await box.fill("no-such-thing-anywhere");
  await expect(page.getByText("No crates match “no-such-thing-anywhere”.")).toBeVisible();
  await box.fill("e2e-core");
  await list.getByRole("option", { name: /^e2e-core/ }).click();
  await expect(page).toHaveURL(/\/crates\/e2e-core$/);
  // Enter without a highlighted suggestion shows every result.
  await box.fill("pager");
  await expect(list).toHaveAttribute("data-query", "pager");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Results for “pager”" })).toBeVisible();
});

test("categories filter the search, kept in the URL with the query and sort", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto("/");
  const home = page.getByRole("navigation", { name: "Categories" });
  // most used first, with their counts
  await expect(home.getByRole("link")).toHaveText([/^paging\s*5$/, /^development-tools\s*2$/]);
  await home.getByRole("link", { name: "paging, 5 crates" }).click();
  await expect(page).toHaveURL(/\/search\?q=&category=paging$/);
  await expect(page.getByRole("heading", { name: "All crates in category “paging”" })).toBeVisible();
  await expect(page.getByText("5 crates · page 1")).toBeVisible();

  // with a query and a sort: the filter adds to them, and the link of the active one is marked
  await page.goto("/search?q=pager&sort=NAME");
  await expect(page.getByText("25 crates · page 1")).toBeVisible();
  const filter = page.getByRole("navigation", { name: "Categories" });
  await filter.getByRole("link", { name: "paging, 5 crates" }).click();
  await expect(page).toHaveURL(/\/search\?q=pager&sort=NAME&category=paging$/);
  await expect(page.getByRole("heading", { name: "Results for “pager” in category “paging”" })).toBeVisible();
  await expect(page.getByText("5 crates · page 1")).toBeVisible();
  await expect(page.locator(".crate-list li")).toHaveText([
    /pager-00/,
    /pager-01/,
    /pager-02/,
    /pager-03/,
    /pager-04/,
  ]);
  await expect(filter.getByRole("link", { name: "paging, 5 crates" })).toHaveAttribute(
    "aria-current",
    "page",
  );
  await shootBothThemes(page, "search-categories");
  // the URL is the state: a reload keeps the filter
  await page.reload();
  await expect(page.getByText("5 crates · page 1")).toBeVisible();
  // changing the sort keeps the category
  await page.getByLabel("Sort by").selectOption("NEWLY_ADDED");
  await expect(page).toHaveURL(/sort=NEWLY_ADDED&category=paging/);
  await expect(page.getByText("5 crates · page 1")).toBeVisible();
  await page.getByRole("link", { name: "Remove the category filter" }).click();
  await expect(page).toHaveURL(/\/search\?q=pager&sort=NEWLY_ADDED$/);
  await expect(page.getByText("25 crates · page 1")).toBeVisible();

  // case-insensitive, and "All categories" clears it
  await page.goto("/search?q=&category=Development-Tools");
  await expect(page.getByText("2 crates · page 1")).toBeVisible();
  await expect(page.locator(".crate-list")).toContainText("e2e-core");
  await expect(page.locator(".crate-list")).toContainText("e2e-widget");
  await expect(filter.getByRole("link", { name: "development-tools, 2 crates" })).toHaveAttribute(
    "aria-current",
    "page",
  );
  await filter.getByRole("link", { name: "All categories" }).click();
  await expect(page.getByText("29 crates · page 1")).toBeVisible();
  await page.goto("/search?q=pager&category=development-tools");
  await expect(page.getByText("No crate matches “pager” in category “development-tools”.")).toBeVisible();

  // a crate's categories link to the filter
  await page.goto("/crates/e2e-widget");
  await page.locator(".tags").getByRole("link", { name: "development-tools" }).click();
  await expect(page).toHaveURL(/\/search\?q=&category=development-tools$/);
  await expect(page.getByText("2 crates · page 1")).toBeVisible();
  await expectAccessible(page);
  // a phone: the categories go below the results, nothing scrolls sideways
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByRole("navigation", { name: "Categories" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test("crate page shows README, versions, dependencies, features, owners", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 1000 });
  await page.goto("/crates/e2e-widget");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("e2e-widget 1.1.0");
  await expect(page.locator(".readme h3")).toHaveText("Widget");
  await expect(page.locator(".readme a", { hasText: "guide" })).toHaveAttribute(
    "href",
    "https://git.example.invalid/acme/widget/docs/guide.md",
  );
  await expect(page.getByLabel("cargo add command", { exact: true })).toHaveText(
    "cargo add e2e-widget@1.1.0 --registry raktar",
  );
  await expect(page.getByLabel("Cargo.toml line", { exact: true })).toHaveText(
    'e2e-widget = { version = "1.1.0", registry = "raktar" }',
  );
  const versions = page.locator("table.versions tbody tr");
  await expect(versions).toHaveCount(2);
  await expect(versions.first()).toContainText("1.1.0");
  await expect(versions.nth(1)).toContainText("1.0.0");
  await expect(page.locator(".dep-group h3", { hasText: /^Dependencies$/ })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Build dependencies" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Dev dependencies" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Dependencies for cfg(unix)" })).toBeVisible();
  await expect(page.locator(".dep-group").first()).toContainText("optional");
  await expect(page.locator(".features")).toContainText("dep:e2e-build");
  await expect(page.locator(".owners")).toContainText("Alice Example (alice)");
  await expect(page.locator(".meta")).toContainText("1.70");
  await expect(page.locator(".tags")).toContainText(["widget"]);
  // anonymous: no owner controls
  await expect(page.getByRole("button", { name: /^Yank/ })).toHaveCount(0);
  await shootBothThemes(page, "crate");

  // the version switcher
  await page.getByLabel("Version", { exact: true }).selectOption("1.0.0");
  await expect(page).toHaveURL(/\/crates\/e2e-widget\/1\.0\.0$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("e2e-widget 1.0.0");
  await page.goto("/crates/e2e-widget/9.9.9");
  await expect(page.getByText("e2e-widget has no version 9.9.9.")).toBeVisible();
  await page.goto("/crates/no-such-crate");
  await expect(page.getByText("There is no crate named “no-such-crate” in this registry.")).toBeVisible();
  await expectAccessible(page);

  // a phone
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/crates/e2e-widget");
  await expect(page.locator(".readme h3")).toHaveText("Widget");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: path.join(SHOTS, "crate-phone-light.png") });
});

test("crate page: downloads of the whole crate and of the shown version, with text summaries", async ({
  page,
}) => {
  await page.setViewportSize({ width: 1200, height: 1000 });
  await page.goto("/crates/e2e-widget/1.1.0");
  const all = page.getByRole("figure", { name: "Daily downloads, all versions" });
  const mine = page.getByRole("figure", { name: "Daily downloads of 1.1.0" });
  await expect(all).toContainText("5 downloads in the last 90 days");
  await expect(mine).toContainText("2 downloads in the last 90 days, 2 in the last 7");
  // The chart itself is an image named by its title and summary, one bar per day.
  const chart = mine.getByRole("img");
  await expect(chart).toHaveAccessibleName(
    /^Daily downloads of 1\.1\.0, \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d 2 downloads/,
  );
  await expect(chart.locator("rect")).toHaveCount(90);
  // The versions table has each version's total.
  await expect(
    page
      .getByRole("row", { name: /1\.0\.0/ })
      .getByRole("cell")
      .nth(4),
  ).toHaveText("3");
  await expect(
    page
      .getByRole("row", { name: /1\.1\.0/ })
      .getByRole("cell")
      .nth(4),
  ).toHaveText("2");
  await shootSection(page, page.getByRole("region", { name: "Downloads" }), "crate-downloads");
  // Switching the version switches its chart.
  await page.getByLabel("Version", { exact: true }).selectOption("1.0.0");
  await expect(page.getByRole("figure", { name: "Daily downloads of 1.0.0" })).toContainText(
    "3 downloads in the last 90 days",
  );
  await expectAccessible(page);
  // A version nobody downloaded says so instead of drawing an empty chart.
  await page.goto("/crates/e2e-core");
  await expect(page.getByRole("figure", { name: "Daily downloads of 0.1.0" })).toContainText(
    "No downloads in the last 90 days.",
  );
});

test("crate page: dependents, a page at a time", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 1000 });
  await page.goto("/crates/e2e-core");
  const section = page.getByRole("region", { name: "Dependents" });
  await expect(section).toContainText("26 crates depend on e2e-core");
  const items = section.locator("ul.dependents li");
  await expect(items).toHaveCount(20);
  // one entry per dependent crate, with its highest version and requirement
  const widget = section.getByRole("listitem").filter({ hasText: "e2e-widget" });
  await expect(widget).toHaveCount(1);
  await expect(widget).toContainText("e2e-widget 1.1.0 requires ^0.1");
  await expect(widget).toContainText("A widget for the end-to-end tests");
  await shootSection(page, section, "crate-dependents");
  await section.getByRole("button", { name: "Show more dependents" }).click();
  await expect(items).toHaveCount(26);
  await expect(section.getByRole("button", { name: "Show more dependents" })).toHaveCount(0);
  await expect(section.getByRole("link", { name: "pager-24" })).toBeVisible();
  // the first new crate has the focus (the button is gone)
  await expect(items.nth(20).getByRole("link")).toBeFocused();
  await section.getByRole("link", { name: "pager-03" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("pager-03 0.1.0");
  await expect(page.getByRole("region", { name: "Dependents" })).toContainText(
    "No crate of this registry depends on pager-03.",
  );
});

test("a hostile README runs nothing and loads nothing remote", async ({ page }) => {
  const remote: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(baseUrl()) && !r.url().startsWith("data:")) remote.push(r.url());
  });
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  await page.goto("/crates/e2e-hostile");
  await expect(page.locator(".readme")).toContainText("Plain text stays.");
  await expect(page.locator(".readme script")).toHaveCount(0);
  await expect(page.locator(".readme img")).toHaveCount(0);
  await expect(page.locator(".readme [onerror]")).toHaveCount(0);
  await expect(page.locator(".readme [style]")).toHaveCount(0);
  await expect(page.locator('.readme a[href^="javascript:"]')).toHaveCount(0);
  const image = page.locator(".readme a.readme-image");
  await expect(image).toHaveAttribute("href", "http://evil.invalid/pixel.png");
  await expect(image).toContainText("Image: tracking pixel");
  await page.locator(".readme").getByText("Click me").click();
  expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
  expect(dialogs).toBe(0);
  expect(remote).toEqual([]);
  // the README stays inside its box
  const box = await page.locator(".readme").boundingBox();
  const overlay = await page.evaluate(() => {
    const el = document.elementFromPoint(5, 5);
    return el?.closest(".readme") !== null;
  });
  expect(box).not.toBeNull();
  expect(overlay).toBe(false);
  await expectAccessible(page);
});

test("sign in, create a token, publish with it, revoke it", async ({ page }) => {
  await signIn(page, "alice", "/tokens");
  await expect(page.getByRole("heading", { name: "Cargo tokens" })).toBeVisible();
  await expect(page.getByRole("link", { name: "alice" })).toBeVisible();
  await expect(page.getByRole("cell", { name: /^seed / })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("ui-made");
  await page.getByLabel("Publish new versions").check();
  await page.getByLabel("Crate patterns (optional, e.g. acme-*; empty: every crate)").fill("e2e-*");
  await page.getByLabel("Expires after (days; empty: never)").fill("30");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByRole("heading", { name: "Token “ui-made” created" })).toBeVisible();
  const secret = (await page.getByLabel("token secret", { exact: true }).textContent())?.trim() ?? "";
  expect(secret.length).toBeGreaterThan(20);
  const row = page.getByRole("row", { name: /ui-made/ });
  await expect(row).toContainText("publish-update");
  await expect(row).toContainText("e2e-*");
  await shootBothThemes(page, "tokens");

  const spec = { name: "e2e-widget", vers: "1.2.0", description: "Published with a UI token" };
  expect(await publish(baseUrl(), secret, spec)).toBe(200);
  await page.goto("/crates/e2e-widget");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("e2e-widget 1.2.0");

  await page.goto("/tokens");
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Revoke ui-made" }).click();
  await expect(page.getByRole("row", { name: /ui-made/ })).toHaveCount(0);
  const refused = await publish(baseUrl(), secret, { ...spec, vers: "1.3.0" });
  expect([401, 403]).toContain(refused);
});

test("an owner yanks and unyanks from the crate page; the index follows", async ({ page, request }) => {
  await signIn(page, "alice", "/crates/e2e-widget");
  const indexLine = async (vers: string) => {
    const res = await request.get(`/index/${indexPath("e2e-widget")}`);
    expect(res.status()).toBe(200);
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { vers: string; yanked: boolean });
    return lines.find((l) => l.vers === vers);
  };
  expect((await indexLine("1.0.0"))?.yanked).toBe(false);
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Yank 1.0.0" }).click();
  await expect(page.getByRole("button", { name: "Unyank 1.0.0" })).toBeVisible();
  await expect(page.getByRole("row", { name: /1\.0\.0/ })).toContainText("yanked");
  await expect.poll(async () => (await indexLine("1.0.0"))?.yanked).toBe(true);
  await expectAccessible(page);
  await page.getByRole("button", { name: "Unyank 1.0.0" }).click();
  await expect(page.getByRole("button", { name: "Yank 1.0.0" })).toBeVisible();
  await expect.poll(async () => (await indexLine("1.0.0"))?.yanked).toBe(false);

  // owners: add bob, then remove him
  await page.getByLabel("Add owner (login)").fill("bob");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await expect(page.locator(".owners")).toContainText("bob");
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Remove bob" }).click();
  await expect(page.locator(".owners")).not.toContainText("bob");
});

test("trusted publishing: owners add and remove CI identities; others never see it", async ({
  page,
  browser,
}) => {
  await page.setViewportSize({ width: 1200, height: 1000 });
  // anonymous and a signed-in member who does not own the crate: no section, no request for it
  const trustRequests: string[] = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/graphql") && (r.postData() ?? "").includes("trustConfigs"))
      trustRequests.push(r.url());
  });
  await page.goto("/crates/e2e-core");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("e2e-core");
  await expect(page.getByRole("heading", { name: "Dependents" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Trusted publishing" })).toHaveCount(0);
  const bobContext = await browser.newContext({ baseURL: baseUrl() });
  const bob = await bobContext.newPage();
  await signIn(bob, "bob", "/crates/e2e-core");
  await expect(bob.getByRole("heading", { name: "Dependents" })).toBeVisible();
  await expect(bob.getByRole("region", { name: "Trusted publishing" })).toHaveCount(0);
  await bobContext.close();
  expect(trustRequests).toEqual([]);

  // the owner
  await signIn(page, "alice", "/crates/e2e-core");
  const trust = page.getByRole("region", { name: "Trusted publishing" });
  await expect(trust.getByText("No CI is trusted to publish e2e-core yet.")).toBeVisible();
  const configs = trust.locator("ul.trust-configs > li");

  // GitHub Actions preset, with an environment
  await trust.getByLabel("Repository (OWNER/REPO)").fill("acme/core");
  await trust.getByLabel("Workflow file (optional, e.g. release.yml)").fill("release.yml");
  await trust.getByLabel("Deployment environment (optional)").fill("production");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(trust.getByRole("status")).toHaveText("Added: GitHub Actions: acme/core.");
  await expect(configs).toHaveCount(1);
  const github = configs.filter({ hasText: "GitHub Actions: acme/core" });
  await expect(github).toContainText("https://token.actions.githubusercontent.com");
  await expect(github).toContainText("repository is acme/core");
  await expect(github).toContainText("environment is production");
  await expect(github).toContainText("by alice");
  await expect(trust.getByLabel("Repository (OWNER/REPO)")).toHaveValue("");

  // the same identity again: the server's CONFLICT, in words
  await trust.getByLabel("Repository (OWNER/REPO)").fill("acme/core");
  await trust.getByLabel("Workflow file (optional, e.g. release.yml)").fill("release.yml");
  await trust.getByLabel("Deployment environment (optional)").fill("production");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(trust.getByRole("alert")).toContainText(
    "Already there: crate `e2e-core` already trusts exactly this identity",
  );
  // a malformed repository: BAD_USER_INPUT
  await trust.getByLabel("Repository (OWNER/REPO)").fill("not-a-repository");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(trust.getByRole("alert")).toHaveText("Not accepted: the GitHub repository is OWNER/REPO");
  await expect(configs).toHaveCount(1);

  // another CI: issuer and generic claim rules (a prefix match); the form checks before sending
  await trust.getByLabel("Another CI (issuer and claim rules)").check();
  await trust.getByLabel("Issuer URL (the tokens' iss claim)").fill("https://ci.example.invalid");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(trust.getByRole("alert")).toContainText("Add at least one claim rule");
  await trust.getByRole("button", { name: "Add a claim rule" }).click();
  const rule = trust.getByRole("group", { name: "Claim rule 1" });
  await rule.getByLabel("Claim name").fill("project");
  await rule.getByLabel("Value").fill("acme/");
  await rule.getByLabel("Starts with (prefix match)").check();
  await trust.getByRole("button", { name: "Add a claim rule" }).click();
  const rule2 = trust.getByRole("group", { name: "Claim rule 2" });
  await rule2.getByLabel("Claim name").fill("ref");
  await rule2.getByLabel("Value").fill("refs/heads/main");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(configs).toHaveCount(2);
  const generic = configs.filter({ hasText: "https://ci.example.invalid" });
  await expect(generic).toContainText("project starts with acme/");
  await expect(generic).toContainText("ref is refs/heads/main");
  // an issuer that is not a URL the server accepts
  await trust.getByRole("button", { name: "Add a claim rule" }).click();
  await trust.getByRole("group", { name: "Claim rule 1" }).getByLabel("Claim name").fill("sub");
  await trust.getByRole("group", { name: "Claim rule 1" }).getByLabel("Value").fill("x");
  await shootSection(page, trust, "crate-trusted-publishing");
  await trust.getByLabel("Issuer URL (the tokens' iss claim)").fill("ftp://ci.example.invalid");
  await trust.getByRole("button", { name: "Add trusted publisher" }).click();
  await expect(trust.getByRole("alert")).toContainText("Not accepted: the issuer must be an http(s) URL");
  await trust
    .getByRole("group", { name: "Claim rule 1" })
    .getByRole("button", { name: "Remove rule 1" })
    .click();
  await expect(trust.getByRole("group", { name: "Claim rule 1" })).toHaveCount(0);

  // removing asks first; dismissing keeps it
  page.once("dialog", (d) => void d.dismiss());
  await github.getByRole("button", { name: /^Remove trusted publisher GitHub Actions: acme\/core/ }).click();
  await expect(configs).toHaveCount(2);
  page.once("dialog", (d) => {
    expect(d.message()).toContain("Stop trusting GitHub Actions: acme/core to publish e2e-core?");
    void d.accept();
  });
  await github.getByRole("button", { name: /^Remove trusted publisher GitHub Actions: acme\/core/ }).click();
  await expect(configs).toHaveCount(1);
  await expect(trust).not.toContainText("acme/core");
  await page.reload();
  await expect(configs).toHaveCount(1);
  // on a phone the section (long issuer and claim values) fits the width
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(trust.getByRole("button", { name: "Add trusted publisher" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);

  // an administrator manages it too
  const rootContext = await browser.newContext({ baseURL: baseUrl() });
  const root = await rootContext.newPage();
  await signIn(root, "root", "/crates/e2e-core");
  const rootTrust = root.getByRole("region", { name: "Trusted publishing" });
  await expect(rootTrust.locator("ul.trust-configs > li")).toHaveCount(1);
  root.once("dialog", (d) => void d.accept());
  await rootTrust
    .getByRole("button", { name: /^Remove trusted publisher https:\/\/ci\.example\.invalid/ })
    .click();
  await expect(rootTrust.getByText("No CI is trusted to publish e2e-core yet.")).toBeVisible();
  await rootContext.close();
});

test("user page lists the crates a user owns", async ({ page }) => {
  await page.goto("/users/alice");
  await expect(page.getByRole("heading", { name: "Alice Example (alice)" })).toBeVisible();
  await expect(page.locator(".crate-list")).toContainText("e2e-widget");
  await shootBothThemes(page, "user");
  await page.goto("/users/nobody-here");
  await expect(page.getByText("There is no user “nobody-here”.")).toBeVisible();
  await page.goto("/no/such/page");
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expectAccessible(page);
});

test("a dead session cookie returns the UI to anonymous, without errors", async ({ page }) => {
  await signIn(page, "bob", "/tokens");
  await expect(page.getByRole("heading", { name: "Cargo tokens" })).toBeVisible();
  // Setting the password ends bob's web sessions on the server; the browser keeps the cookie.
  cli(process.env.E2E_DATA_DIR ?? "", ["user", "set-password", "bob"], `${PASSWORD}\n`);
  const failures: number[] = [];
  page.on("response", (r) => {
    if (r.url().endsWith("/graphql") && r.status() >= 400) failures.push(r.status());
  });
  await page.goto("/");
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(page.locator(".crate-list li").first()).toBeVisible();
  await page.goto("/crates/e2e-core");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("e2e-core");
  expect(failures).toEqual([]);
});

test("admin creates, resets, disables and enables a user; the user changes their password", async ({
  page,
  browser,
}) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await signIn(page, "root", "/admin/users");
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  await page.getByText("Create a user").click();
  await page.getByLabel("New login").fill("dora");
  await page.getByLabel("Display name").fill("Dora Example");
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("link", { name: "dora", exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Reset password of dora" }).click();
  const temporary = (await page.locator(".secret code").textContent())?.trim() ?? "";
  expect(temporary.length).toBeGreaterThan(11);
  await page.getByRole("button", { name: "Disable dora" }).click();
  await expect(page.getByRole("button", { name: "Enable dora" })).toBeVisible();
  await shootBothThemes(page, "admin-users");

  // A disabled account cannot sign in.
  const other = await browser.newContext({ baseURL: baseUrl() });
  const dora = await other.newPage();
  await dora.goto("/signin?next=%2Faccount");
  await dora.getByLabel("Login").fill("dora");
  await dora.getByLabel("Password").fill(temporary);
  await dora.getByRole("button", { name: "Sign in" }).click();
  await expect(dora.getByRole("alert")).toBeVisible();
  await expect(dora).toHaveURL(/\/signin/);

  // Enabled again, dora signs in with the temporary password and changes it.
  await page.getByRole("button", { name: "Enable dora" }).click();
  await expect(page.getByRole("button", { name: "Disable dora" })).toBeVisible();
  await signIn(dora, "dora", "/account", temporary);
  await expect(dora.getByRole("heading", { name: "Active sessions" })).toBeVisible();
  await dora.getByLabel("Current password", { exact: true }).fill("wrong password here");
  await dora.getByLabel("New password", { exact: true }).fill("a brand new passphrase");
  await dora.getByLabel("New password again").fill("a brand new passphrase");
  await dora.getByRole("button", { name: "Change password" }).click();
  await expect(dora.getByRole("alert")).toBeVisible();
  await dora.getByLabel("Current password", { exact: true }).fill(temporary);
  await dora.getByRole("button", { name: "Change password" }).click();
  await expect(dora.getByText("Password changed.")).toBeVisible();
  await shootBothThemes(dora, "account");
  await other.close();

  // The new password works; the temporary one no longer does.
  // The audit log shows what the administrator did, filtered by action.
  await page.goto("/admin/audit?action=USER_DISABLE");
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  const rows = page.locator("tbody tr");
  await expect(rows.first()).toContainText("user-disable");
  await expect(rows.first()).toContainText("root");
  await expect(page.locator("tbody")).not.toContainText("user-enable");
  await shootBothThemes(page, "admin-audit");

  const again = await browser.newContext({ baseURL: baseUrl() });
  const fresh = await again.newPage();
  await signIn(fresh, "dora", "/account", "a brand new passphrase");
  await expect(fresh.getByRole("heading", { name: "Account" })).toBeVisible();
  await again.close();
});

test("the admin pages refuse a member", async ({ page }) => {
  await signIn(page, "bob", "/admin/users");
  await expect(page.getByRole("alert")).toContainText("Only administrators");
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  await expectAccessible(page);
});

test("sign out ends the session", async ({ page }) => {
  await signIn(page, "alice", "/");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
});

test("the server serves the UI with a strict CSP and cache headers", async ({ request }) => {
  const shell = await request.get("/crates/e2e-widget");
  expect(shell.status()).toBe(200);
  expect(shell.headers()["content-type"]).toContain("text/html");
  expect(shell.headers()["cache-control"]).toBe("no-cache");
  const csp = shell.headers()["content-security-policy"] ?? "";
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(shell.headers()["x-frame-options"]).toBe("DENY");
  const html = await shell.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(asset).toBeTruthy();
  const js = await request.get(asset ?? "");
  expect(js.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
  expect((await request.get("/assets/missing.js")).status()).toBe(404);
  expect((await request.get("/health")).status()).toBe(200);
});

test("keyboard: skip link, search from the header, theme toggle remembered", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto("/");
  // Tab only once the app has rendered and settled (the first Tab otherwise lands before the
  // skip link exists).
  await expect(page.locator("#header-q")).toBeVisible();
  await expect(page.locator("main h1").first()).toBeVisible();
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await expect(skip).toBeFocused();
  await page.keyboard.press("Tab"); // brand
  await page.keyboard.press("Tab"); // header search
  await expect(page.locator("#header-q")).toBeFocused();
  await page.keyboard.type("widget");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Results for “widget”" })).toBeVisible();
  const toggle = page.getByRole("button", { name: "Use dark theme" });
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(page.getByRole("button", { name: "Use light theme" })).toBeVisible();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).toBe("rgb(21, 22, 26)");
});

test("a private registry: anonymous pages ask to sign in, signed in they work", async ({ page }) => {
  const server = await startServer(false);
  try {
    cli(server.dataDir, ["user", "create", "carol"]);
    cli(server.dataDir, ["user", "set-password", "carol"], `${PASSWORD}\n`);
    await page.goto(`${server.url}/search?q=x`);
    const alert = page.getByRole("alert");
    await expect(alert).toContainText("this registry requires a token");
    await expect(alert.getByRole("link", { name: "Sign in" })).toHaveAttribute(
      "href",
      "/signin?next=%2Fsearch%3Fq%3Dx",
    );
    await expectAccessible(page);
    await alert.getByRole("link", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
    await page.getByLabel("Login").fill("carol");
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toBeVisible();
    await expect(page).toHaveURL(/\/signin\?next=/);
    await shootBothThemes(page, "signin");
    await page.getByLabel("Login").fill("carol");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(`${server.url}/search?q=x`);
    await expect(page.getByText("No crate matches “x”.")).toBeVisible();
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((resolve) => server.child.once("exit", resolve));
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});
