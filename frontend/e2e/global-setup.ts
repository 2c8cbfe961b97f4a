import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import {
  cli,
  download,
  HOSTILE_README,
  indexPath,
  PASSWORD,
  publish,
  startServer,
  WIDGET_README,
} from "./harness";

export default async function globalSetup() {
  // A second raktar stands in for crates-io: the main server's pull-through cache and
  // dependency-confusion guard (`--upstream-sparse`) point at its sparse index.
  const upstream = await startServer(true);
  process.env.E2E_UPSTREAM_URL = upstream.url;
  cli(upstream.dataDir, ["user", "create", "upstream-owner"]);
  const upstreamToken = cli(upstream.dataDir, [
    "token",
    "create",
    "--user",
    "upstream-owner",
    "--name",
    "seed",
  ]);
  const upstreamOk = async (spec: Parameters<typeof publish>[2]) => {
    const status = await publish(upstream.url, upstreamToken, spec);
    if (status !== 200) throw new Error(`upstream seed publish of ${spec.name}: HTTP ${status}`);
  };
  await upstreamOk({ name: "up-serde", vers: "1.0.0", description: "A public crate" });

  const { child, url, dataDir } = await startServer(true, ["--upstream-sparse", `${upstream.url}/index/`]);
  process.env.E2E_BASE_URL = url;
  process.env.E2E_DATA_DIR = dataDir;
  writeFileSync(path.join(tmpdir(), "raktar-ui-e2e-last.txt"), `${url}\n${dataDir}\n`);

  cli(dataDir, ["user", "create", "alice", "--name", "Alice Example"]);
  cli(dataDir, ["user", "set-password", "alice"], `${PASSWORD}\n`);
  cli(dataDir, ["user", "create", "root", "--admin"]);
  cli(dataDir, ["user", "set-password", "root"], `${PASSWORD}\n`);
  cli(dataDir, ["user", "create", "bob"]);
  cli(dataDir, ["user", "set-password", "bob"], `${PASSWORD}\n`);
  const token = cli(dataDir, ["token", "create", "--user", "alice", "--name", "seed"]);

  const ok = async (spec: Parameters<typeof publish>[2]) => {
    const status = await publish(url, token, spec);
    if (status !== 200) throw new Error(`seed publish of ${spec.name} ${spec.vers}: HTTP ${status}`);
  };
  await ok({
    name: "e2e-core",
    vers: "0.1.0",
    description: "Core pieces",
    categories: ["development-tools"],
  });
  await ok({ name: "e2e-build", vers: "0.1.0", description: "Build helper" });
  const widget = {
    name: "e2e-widget",
    description: "A widget for the end-to-end tests",
    readme: WIDGET_README,
    repository: "https://git.example.invalid/acme/widget",
    license: "MIT OR Apache-2.0",
    keywords: ["widget", "e2e"],
    categories: ["development-tools"],
    rustVersion: "1.70",
    features: { default: ["fast"], fast: [], extra: ["dep:e2e-build"] },
    deps: [
      { name: "e2e-core", req: "^0.1", features: ["std"] },
      { name: "e2e-build", req: "^0.1", optional: true },
      { name: "e2e-build", req: "^0.1", kind: "build" as const },
      { name: "e2e-core", req: "^0.1", kind: "dev" as const },
      { name: "e2e-core", req: "^0.1", target: "cfg(unix)" },
    ],
  };
  await ok({ ...widget, vers: "1.0.0" });
  await ok({ ...widget, vers: "1.1.0" });
  await ok({ name: "e2e-hostile", vers: "0.1.0", description: "A hostile README", readme: HOSTILE_README });
  for (let i = 0; i < 25; i++) {
    // Every pager crate depends on e2e-core: 26 dependents with e2e-widget (two pages).
    await ok({
      name: `pager-${String(i).padStart(2, "0")}`,
      vers: "0.1.0",
      description: "Paging",
      deps: [{ name: "e2e-core", req: "^0.1" }],
      // the first five are in a category of their own (for the category filter)
      categories: i < 5 ? ["paging"] : [],
    });
  }
  // Downloads for the charts: 3 of e2e-widget 1.0.0, 2 of 1.1.0.
  for (const [vers, times] of [
    ["1.0.0", 3],
    ["1.1.0", 2],
  ] as const) {
    for (let i = 0; i < times; i++) await download(url, "e2e-widget", vers);
  }

  // The same name published upstream after it was taken here: a collision the guard did not see
  // (like a crate published before the guard was enabled).
  await upstreamOk({ name: "e2e-core", vers: "9.0.0", description: "The public namesake" });
  // Warm the pull-through cache: the index file of up-serde (a miss, then a hit) and its .crate.
  const through = async (p: string) => {
    const res = await fetch(`${url}/upstream/${p}`, { headers: { Authorization: token } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`pull-through ${p}: HTTP ${res.status}`);
  };
  await through(`index/${indexPath("up-serde")}`);
  await through(`index/${indexPath("up-serde")}`);
  await through("crates/up-serde/1.0.0/download");
  await through("crates/up-serde/1.0.0/download");

  return async () => {
    child.kill("SIGTERM");
    upstream.child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    await new Promise((resolve) => upstream.child.once("exit", resolve));
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(upstream.dataDir, { recursive: true, force: true });
  };
}
