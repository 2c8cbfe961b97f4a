//! The crates of `fixtures/mirror/` (as if published on crates-io), packaged with the real cargo,
//! and a fake cargo registry cache holding them: what `raktar import --as-mirror` reads. Shared
//! by the import tests and the pull-through cache tests (whose fake upstream is a Raktar loaded
//! with them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{CLI_TIMEOUT, CargoEnv, CmdOutput, TestServer, copy_dir, fixtures_dir, run_with_timeout};

/// The cache directory cargo would use for crates-io under `home` (the hash is cargo's; any
/// directory name works for the import).
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join("registry/cache/index.crates.io-1949cf8c6b5b557f")
}

/// Packages `fixtures/mirror` with the real cargo (offline); returns the `.crate` files.
pub fn package_mirror_fixtures(cargo: &CargoEnv) -> BTreeMap<String, PathBuf> {
    let work = cargo.fresh_dir("mirror");
    copy_dir(&fixtures_dir().join("mirror"), &work);
    cargo.cargo(&["package", "--workspace", "--no-verify", "--allow-dirty", "--offline"], &work).assert_success();
    cargo
        .cargo(&["package", "--no-verify", "--allow-dirty", "--offline"], &work.join("mirror-leaf-1.0.0"))
        .assert_success();
    let dir = cargo.target_dir().join("package");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".crate")) {
            out.insert(name.to_string(), path.clone());
        }
    }
    out
}

/// `raktar import ARGS...` against a server's home (bounded).
pub fn import(server: &TestServer, args: &[&str]) -> CmdOutput {
    let mut full = vec!["import"];
    full.extend_from_slice(args);
    let mut cmd = server.cli_command(&full);
    cmd.env("RUST_LOG", "warn");
    run_with_timeout(cmd, CLI_TIMEOUT * 4)
}

/// Loads the packaged mirror fixtures (all but the dev-only helper) into `server` as a crates-io
/// mirror (`--as-mirror`), owned by a new user `mirror-admin`.
pub fn load_mirror(server: &TestServer) {
    server.create_user("mirror-admin", false);
    let packager = CargoEnv::anonymous(server);
    let crates = package_mirror_fixtures(&packager);
    let fake_home = tempfile::Builder::new().prefix("raktar-mirror-cache-").tempdir().unwrap();
    let cache = cache_dir(fake_home.path());
    std::fs::create_dir_all(&cache).unwrap();
    for (name, path) in crates.iter().filter(|(n, _)| !n.starts_with("mirror-dev-helper")) {
        std::fs::copy(path, cache.join(name)).unwrap();
    }
    let root = fake_home.path().join("registry/cache");
    let out = import(
        server,
        &[
            root.to_str().unwrap(),
            "--owner",
            "mirror-admin",
            "--as-mirror",
            "--upstream-index",
            "https://index.upstream.test/",
        ],
    );
    out.assert_success().assert_output_contains("imported 4 crate version(s)");
}
