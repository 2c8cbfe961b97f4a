// Test harness: a real `raktar serve` (debug build) with its own data directory, the built UI,
// users and tokens made with the `raktar` CLI, crates published through the cargo publish API.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const RAKTAR_BIN = process.env.RAKTAR_BIN ?? path.join(ROOT, "target", "debug", "raktar");
export const UI_DIR = process.env.E2E_UI_DIR ?? path.join(ROOT, "frontend", "dist");
export const PASSWORD = "correct horse battery staple";

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1", PATH: process.env.PATH ?? "/usr/bin:/bin" };
  if (process.env.HOME) env.HOME = process.env.HOME;
  return env;
}

export function cli(dataDir: string, args: string[], input?: string): string {
  return execFileSync(RAKTAR_BIN, [...args, "--data-dir", dataDir], {
    env: { ...cleanEnv(), RUST_LOG: "warn" },
    input,
    encoding: "utf8",
    timeout: 30_000,
  }).trim();
}

export async function startServer(
  publicRead = true,
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string; dataDir: string }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "raktar-ui-e2e-"));
  const child = spawn(
    RAKTAR_BIN,
    [
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--data-dir",
      dataDir,
      ...(publicRead ? ["--public-read"] : []),
      "--ui-dir",
      UI_DIR,
      ...extraArgs,
    ],
    { env: { ...cleanEnv(), RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`raktar serve did not start: ${out}${stderr}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /Raktar listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`raktar serve exited (${code}): ${stderr}`));
    });
  });
  return { child, url, dataDir };
}

export interface Dep {
  name: string;
  req: string;
  kind?: "normal" | "dev" | "build";
  target?: string;
  optional?: boolean;
  features?: string[];
}

export interface CrateSpec {
  name: string;
  vers: string;
  description?: string;
  readme?: string;
  repository?: string;
  license?: string;
  keywords?: string[];
  categories?: string[];
  features?: Record<string, string[]>;
  deps?: Dep[];
  rustVersion?: string;
}

/** A `.crate` file (gzip tar) holding `{name}-{vers}/Cargo.toml` and `src/lib.rs`. */
function crateFile(spec: CrateSpec): Buffer {
  const work = mkdtempSync(path.join(tmpdir(), "raktar-ui-crate-"));
  const top = `${spec.name}-${spec.vers}`;
  mkdirSync(path.join(work, top, "src"), { recursive: true });
  writeFileSync(
    path.join(work, top, "Cargo.toml"),
    `[package]\nname = "${spec.name}"\nversion = "${spec.vers}"\nedition = "2021"\n`,
  );
  writeFileSync(path.join(work, top, "src", "lib.rs"), "pub fn it() {}\n");
  try {
    return execFileSync("tar", ["-C", work, "-czf", "-", top]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function publishBody(spec: CrateSpec): Buffer {
  const meta = {
    name: spec.name,
    vers: spec.vers,
    deps: (spec.deps ?? []).map((d) => ({
      name: d.name,
      version_req: d.req,
      features: d.features ?? [],
      optional: d.optional ?? false,
      default_features: true,
      target: d.target ?? null,
      kind: d.kind ?? "normal",
      registry: null,
      explicit_name_in_toml: null,
    })),
    features: spec.features ?? {},
    authors: ["E2E <e2e@example.invalid>"],
    description: spec.description ?? `The ${spec.name} crate`,
    documentation: null,
    homepage: null,
    readme: spec.readme ?? null,
    readme_file: spec.readme ? "README.md" : null,
    keywords: spec.keywords ?? [],
    categories: spec.categories ?? [],
    license: spec.license ?? "MIT",
    license_file: null,
    repository: spec.repository ?? null,
    badges: {},
    links: null,
    rust_version: spec.rustVersion ?? null,
  };
  const json = Buffer.from(JSON.stringify(meta));
  const file = crateFile(spec);
  const len = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  return Buffer.concat([len(json.length), json, len(file.length), file]);
}

/** Publishes through the cargo publish API; returns the HTTP status. */
export async function publish(baseUrl: string, token: string, spec: CrateSpec): Promise<number> {
  const res = await fetch(`${baseUrl}/api/v1/crates/new`, {
    method: "PUT",
    headers: { Authorization: token, "Content-Type": "application/octet-stream" },
    body: new Uint8Array(publishBody(spec)),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Downloads a version through the `dl` URL of the index configuration (checksum from the index). */
export async function download(baseUrl: string, name: string, vers: string): Promise<void> {
  const index = await fetch(`${baseUrl}/index/${indexPath(name)}`);
  const line = (await index.text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { vers: string; cksum: string })
    .find((l) => l.vers === vers);
  if (!line) throw new Error(`download: ${name} ${vers} is not in the index`);
  const res = await fetch(`${baseUrl}/api/v1/dl/${name}/${vers}/${line.cksum}`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`download of ${name} ${vers}: HTTP ${res.status}`);
}

/** The sparse index path of a crate name. */
export function indexPath(name: string): string {
  const n = name.toLowerCase();
  if (n.length <= 2) return `${n.length}/${n}`;
  if (n.length === 3) return `3/${n[0]}/${n}`;
  return `${n.slice(0, 2)}/${n.slice(2, 4)}/${n}`;
}

export const HOSTILE_README = `# Hostile crate

<script>window.__pwned = "script"</script>

<img src="x" onerror="window.__pwned = 'onerror'">

[Click me](javascript:window.__pwned='link')

![tracking pixel](http://evil.invalid/pixel.png)

<div style="position:fixed;top:0;left:0;width:100vw;height:100vh">overlay</div>

Plain text stays.
`;

export const WIDGET_README = `# Widget

A widget for the end-to-end tests.

## Usage

\`\`\`rust
e2e_widget::it();
\`\`\`

See the [guide](docs/guide.md).
`;
