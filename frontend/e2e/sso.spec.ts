import { expect, test } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { ROOT, startServer } from "./harness";

// Single sign-on in the browser: the real OpenID Connect provider of the backend tests
// (backend/raktar/tests/oidc/provider.mjs, npm `oidc-provider`, installed by `.ci/oidc-setup`) on
// 127.0.0.1, and a raktar whose `[oidc]` points at it. The person clicks the SSO button, signs in
// on the provider's own form and lands back in the web UI, signed in.

const OIDC_DIR = path.join(ROOT, "backend", "raktar", "tests", "oidc");
const CLIENT_ID = "raktar-ui-e2e";
const CLIENT_SECRET = "raktar-ui-e2e-secret";
const LABEL = "Test IdP";

let provider: ChildProcess | undefined;
let raktar: ChildProcess | undefined;
let base = "";
const dirs: string[] = [];

/** Starts provider.mjs; resolves with its issuer and a function that sends it a line. */
async function startProvider(
  accountsPath: string,
): Promise<{ issuer: string; ready: (redirect: string) => Promise<void> }> {
  const child = spawn("node", [path.join(OIDC_DIR, "provider.mjs")], {
    cwd: OIDC_DIR,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      OIDC_KEY_PEM: path.join(ROOT, "fixtures", "oidc", "test-signing-key.pem"),
      OIDC_ACCOUNTS: accountsPath,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  provider = child;
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    log += `${line}\n`;
    waiters.splice(0).forEach((w) => w());
  });
  const waitFor = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the OIDC provider did not print ${prefix}:\n${log}`)),
        30_000,
      );
      const check = () => {
        const found = lines.find((l) => l.startsWith(prefix));
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else {
          waiters.push(check);
        }
      };
      check();
    });
  const issuer = (await waitFor("ISSUER ")).slice("ISSUER ".length).trim();
  return {
    issuer,
    ready: async (redirect: string) => {
      child.stdin?.write(`REDIRECT ${redirect}\n`);
      await waitFor("READY");
    },
  };
}

test.describe.configure({ mode: "serial" });

test.beforeAll(async () => {
  test.skip(
    !existsSync(path.join(OIDC_DIR, "node_modules", "oidc-provider", "package.json")),
    "the test OIDC provider is not installed: run .ci/oidc-setup",
  );
  const dir = mkdtempSync(path.join(tmpdir(), "raktar-ui-sso-"));
  dirs.push(dir);
  const accounts = path.join(dir, "accounts.json");
  writeFileSync(
    accounts,
    JSON.stringify({
      "carol-subject": {
        password: "carol-at-the-idp",
        claims: {
          preferred_username: "carol",
          name: "Carol Single-Sign-On",
          email: "carol@example.com",
          email_verified: true,
        },
      },
    }),
  );
  const idp = await startProvider(accounts);
  const config = path.join(dir, "raktar.toml");
  writeFileSync(
    config,
    `[oidc]\nissuer = "${idp.issuer}"\nclient_id = "${CLIENT_ID}"\nclient_secret = "${CLIENT_SECRET}"\n` +
      `scopes = ["openid", "profile", "email"]\ndisplay_name = "${LABEL}"\n`,
  );
  const server = await startServer(false, ["--config", config]);
  raktar = server.child;
  dirs.push(server.dataDir);
  base = server.url;
  await idp.ready(`${base}/auth/oidc/callback`);
});

test.afterAll(async () => {
  raktar?.kill("SIGTERM");
  provider?.stdin?.end();
  provider?.kill("SIGTERM");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function idpSignIn(page: import("@playwright/test").Page, password: string) {
  await page.goto(`${base}/signin?next=${encodeURIComponent("/tokens")}`);
  await page.getByRole("link", { name: LABEL }).click();
  // The provider's own sign-in form.
  await page.waitForURL((u) => u.pathname.startsWith("/interaction/"));
  await page.locator('input[name="login"]').fill("carol-subject");
  await page.locator('input[name="password"]').fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a wrong password at the identity provider leaves the app signed out", async ({ page }) => {
  await idpSignIn(page, "not-the-password");
  // Still on the provider, which says why; the registry never got a code.
  await expect(page.getByText("invalid login or password")).toBeVisible();
  await expect(page).toHaveURL(/\/interaction\//);
  await page.goto(`${base}/tokens`);
  await expect(page.getByRole("link", { name: "Sign in" }).first()).toBeVisible();
  await expect(page.getByRole("link", { name: "carol" })).toHaveCount(0);
});

test("sign in through the identity provider, create a token, sign out", async ({ page }) => {
  await idpSignIn(page, "carol-at-the-idp");
  // Back in the web UI, signed in as the account made from the provider's claims.
  await page.waitForURL((u) => u.origin === base && u.pathname === "/tokens");
  await expect(page.getByRole("heading", { name: "Cargo tokens" })).toBeVisible();
  await expect(page.getByRole("link", { name: "carol" })).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill("from-sso");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByRole("heading", { name: "Token “from-sso” created" })).toBeVisible();
  const secret = (await page.getByLabel("token secret", { exact: true }).textContent())?.trim() ?? "";
  expect(secret.length).toBeGreaterThan(20);
  // The token works with the cargo API (a private registry: anonymous reads are refused).
  const anonymous = await fetch(`${base}/index/config.json`);
  expect(anonymous.status).toBe(401);
  const withToken = await fetch(`${base}/index/config.json`, { headers: { Authorization: secret } });
  expect(withToken.status).toBe(200);

  await page.goto(`${base}/users/carol`);
  await expect(page.getByText("Carol Single-Sign-On")).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "carol" })).toHaveCount(0);
  await page.goto(`${base}/tokens`);
  await expect(page.getByRole("heading", { name: "Cargo tokens" })).toHaveCount(0);
});
