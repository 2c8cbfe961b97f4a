//! A corpus of malformed or forbidden `PUT /api/v1/crates/new` requests, each sent through the
//! router in process (`common::App`: the real routes, authentication and services over in-memory
//! stores). Every case must be refused with its 4xx status and a cargo error body
//! (`{"errors":[{"detail": ...}]}`) whose detail says what is wrong, and must change nothing: every
//! item (token items excepted) and every blob are compared before and after each case.
//!
//! The cases that need a real connection (`Expect: 100-continue`, the server's request limit) are
//! in `backend/raktar/tests/publish_expect_continue.rs`, against `raktar serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::App;
use raktar_core::RegistryConfig;
use raktar_core::domain::Scope;
use raktar_core::testkit::app::{TestRegistry, TestToken};
use raktar_core::testkit::fixtures::{
    CrateTarball, PublishRequest, TarEntry, default_manifest, dependency, frame, frame_with_lengths, gzip,
};
use raktar_core::testkit::wire::cargo_error_details;
use serde_json::{Value, json};

/// The crate seeded before the corpus runs (owned by `alice`).
const EXISTING: &str = "Existing-Crate";
/// The name most cases try to publish (it does not exist; the control publish at the end proves
/// that a well-formed request for it is accepted).
const NEW: &str = "new-crate";

const MIB: usize = 1024 * 1024;

/// Which credentials a case sends.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// alice, full scopes, owner of `Existing-Crate`.
    Owner,
    /// bob, full scopes, owns nothing.
    NonOwner,
    /// No `Authorization` header.
    Anonymous,
    /// This raw `Authorization` value.
    Raw(&'static str),
    /// alice, scopes `read` and `publish-update` only.
    NoPublishNew,
    /// alice, scope `read` only.
    ReadOnly,
    /// alice, every scope, limited to crates matching `other-*`.
    OtherPattern,
    /// alice, a revoked token.
    Revoked,
    /// alice, an expired token.
    Expired,
}

struct Tokens {
    owner: TestToken,
    non_owner: TestToken,
    no_publish_new: TestToken,
    read_only: TestToken,
    other_pattern: TestToken,
    revoked: TestToken,
    expired: TestToken,
}

impl Tokens {
    fn get(&self, who: Who) -> Option<&str> {
        match who {
            Who::Owner => Some(&self.owner.secret),
            Who::NonOwner => Some(&self.non_owner.secret),
            Who::Anonymous => None,
            Who::Raw(raw) => Some(raw),
            Who::NoPublishNew => Some(&self.no_publish_new.secret),
            Who::ReadOnly => Some(&self.read_only.secret),
            Who::OtherPattern => Some(&self.other_pattern.secret),
            Who::Revoked => Some(&self.revoked.secret),
            Who::Expired => Some(&self.expired.secret),
        }
    }
}

/// One refused request.
struct Case {
    name: String,
    who: Who,
    body: Vec<u8>,
    status: u16,
    /// Substrings the error detail must contain (compared case-insensitively); all must match.
    detail: &'static [&'static str],
}

fn case(name: impl Into<String>, body: Vec<u8>, status: u16, detail: &'static [&'static str]) -> Case {
    Case { name: name.into(), who: Who::Owner, body, status, detail }
}

fn as_user(who: Who, name: impl Into<String>, body: Vec<u8>, status: u16, detail: &'static [&'static str]) -> Case {
    Case { name: name.into(), who, body, status, detail }
}

/// A well-formed publish of `new-crate 1.0.0` with one metadata field replaced.
fn with_field(key: &str, value: Value) -> Vec<u8> {
    PublishRequest::new(NEW, "1.0.0").field(key, value).body()
}

/// A consistent request (metadata and packaged Cargo.toml agree) for `name` `vers`.
fn publish(name: &str, vers: &str) -> Vec<u8> {
    PublishRequest::new(name, vers).body()
}

/// `new-crate 1.0.0` metadata with this `.crate`.
fn with_crate(krate: Vec<u8>) -> Vec<u8> {
    PublishRequest::new(NEW, "1.0.0").with_tarball(krate).body()
}

/// `new-crate 1.0.0` metadata with this metadata JSON (raw bytes) and a valid `.crate`.
fn with_json(json: &[u8]) -> Vec<u8> {
    frame(json, &CrateTarball::new(NEW, "1.0.0").build())
}

/// The default metadata of `new-crate 1.0.0` without `key`.
fn without_field(key: &str) -> Vec<u8> {
    PublishRequest::new(NEW, "1.0.0").without_field(key).body()
}

/// `new-crate 1.0.0` with these dependencies.
fn with_deps(deps: Vec<Value>) -> Vec<u8> {
    with_field("deps", Value::Array(deps))
}

/// `new-crate 1.0.0` with these dependencies and features.
fn with_deps_and_features(deps: Vec<Value>, features: Value) -> Vec<u8> {
    PublishRequest::new(NEW, "1.0.0").field("deps", Value::Array(deps)).field("features", features).body()
}

/// The prefix every entry of the `new-crate 1.0.0` archive must be under.
fn prefix() -> String {
    format!("{NEW}-1.0.0")
}

// ---------------------------------------------------------------------------------------------
// Raw tar entries the harness builder cannot express (PAX and GNU long-name headers, devices).
// ---------------------------------------------------------------------------------------------

struct RawEntry {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    /// Size written into the header (normally `data.len()`).
    size: u64,
}

impl RawEntry {
    fn new(name: impl AsRef<[u8]>, kind: tar::EntryType, data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        RawEntry { name: name.as_ref().to_vec(), kind, size: data.len() as u64, data }
    }

    fn file(name: impl AsRef<[u8]>, data: impl Into<Vec<u8>>) -> Self {
        Self::new(name, tar::EntryType::Regular, data)
    }
}

/// A tar stream written header by header: names are copied byte for byte, nothing is validated.
/// `terminate`: append the two zero blocks that end an archive.
fn raw_tar(entries: &[RawEntry], terminate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut header = tar::Header::new_gnu();
        {
            assert!(e.name.len() <= 100, "raw tar names are limited to 100 bytes");
            let old = header.as_old_mut();
            old.name = [0; 100];
            old.name[..e.name.len()].copy_from_slice(&e.name);
        }
        header.set_entry_type(e.kind);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(e.size);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    if terminate {
        out.extend(std::iter::repeat_n(0u8, 1024));
    }
    out
}

/// The two regular files of a valid `new-crate 1.0.0` archive, as raw entries.
fn valid_entries() -> Vec<RawEntry> {
    vec![
        RawEntry::file(format!("{}/Cargo.toml", prefix()), default_manifest(NEW, "1.0.0")),
        RawEntry::file(format!("{}/src/lib.rs", prefix()), "pub fn f() {}\n"),
    ]
}

/// A PAX extended-header record (`"<len> key=value\n"`, the length counting itself).
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = format!(" {key}={value}\n");
    let mut len = rest.len() + 1;
    while format!("{len}{rest}").len() != len {
        len += 1;
    }
    format!("{len}{rest}").into_bytes()
}

/// A request whose metadata passes every limit but whose version item would exceed the store's
/// item size limit (400 KB): 300 dependencies from another registry with 100 features each.
fn oversized_item_request(name: &str) -> PublishRequest {
    let features: Vec<String> = (0..100).map(|j| format!("feature_{j:03}")).collect();
    let deps: Vec<Value> = (0..300)
        .map(|i| {
            let mut d = dependency(&format!("dep{i}"), "^1");
            d["registry"] = json!("sparse+https://other.invalid/index/");
            d["features"] = json!(features);
            d
        })
        .collect();
    let req = PublishRequest::new(name, "1.0.0").field("deps", Value::Array(deps));
    assert!(req.metadata_bytes().len() < MIB, "the metadata must pass the JSON limit");
    req
}

/// The issue-8 upload bomb: a gzip tar whose first entry is a GNU long-name header claiming `nuls`
/// bytes, followed by that many NULs, then a regular file and the end of the archive (the old
/// reader buffered the whole name and echoed it, escaped, in the error).
///
/// Built without compressing `nuls` bytes: one sync-flushed deflate chunk of 1 MiB of zeros only
/// refers to the zeros before it, so it is repeated. The gzip trailer's CRC is left 0: no reader
/// gets that far (the archive is refused at its first header).
fn long_name_bomb(nuls: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    const CHUNK: usize = MIB;
    assert!(nuls.is_multiple_of(CHUNK) && nuls >= 2 * CHUNK);
    fn deflate(c: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut consumed = 0;
        for _ in 0..100_000 {
            let before = c.total_in();
            let status = c.compress_vec(&input[consumed..], &mut out, flush).unwrap();
            consumed += usize::try_from(c.total_in() - before).unwrap();
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => consumed == input.len() && out.len() < out.capacity(),
            };
            if done {
                return out;
            }
            out.reserve(64 * 1024);
        }
        panic!("deflate did not finish");
    }
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        old.name = [0; 100];
        old.name[..13].copy_from_slice(b"././@LongLink");
    }
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_mode(0o644);
    header.set_size(nuls as u64);
    header.set_cksum();
    let zeros = vec![0u8; CHUNK];
    let mut c = Compress::new(Compression::best(), false);
    let mut first = header.as_bytes().to_vec();
    first.extend_from_slice(&zeros);
    let mut deflated = deflate(&mut c, &first, FlushCompress::Sync);
    let chunk = deflate(&mut c, &zeros, FlushCompress::Sync);
    for _ in 1..nuls / CHUNK {
        deflated.extend_from_slice(&chunk);
    }
    let mut last = raw_tar(&[RawEntry::file(format!("{}/x.rs", prefix()), "x")], true);
    last.extend_from_slice(&[0u8; 512]);
    let total = 512 + nuls + last.len();
    deflated.extend(deflate(&mut c, &last, FlushCompress::Finish));
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend(deflated);
    gz.extend_from_slice(&0u32.to_le_bytes());
    gz.extend_from_slice(&(total as u32).to_le_bytes());
    gz
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

fn corpus() -> Vec<Case> {
    let valid_crate = CrateTarball::new(NEW, "1.0.0").build();
    let valid_json = PublishRequest::new(NEW, "1.0.0").metadata_bytes();
    let p = prefix();
    let mut cases = vec![
        // --- framing -------------------------------------------------------------------------
        case("empty body", Vec::new(), 400, &["truncated", "metadata length"]),
        case("1-byte body", vec![1], 400, &["truncated", "metadata length"]),
        case("3-byte body", vec![1, 0, 0], 400, &["truncated", "metadata length"]),
        case(
            "JSON length larger than the body",
            frame_with_lengths(u32::try_from(valid_json.len() + 1000).unwrap(), &valid_json, 0, &[]),
            400,
            &["metadata length", "shorter"],
        ),
        case("JSON length larger than the body, nothing after it", 100u32.to_le_bytes().to_vec(), 400, &["shorter"]),
        case("JSON length 0", frame(b"", &valid_crate), 400, &["metadata"]),
        case(
            "body ends before the .crate length",
            {
                let mut b = (valid_json.len() as u32).to_le_bytes().to_vec();
                b.extend_from_slice(&valid_json);
                b.extend_from_slice(&[7, 0]);
                b
            },
            400,
            &["truncated", ".crate length"],
        ),
        case(
            "crate length larger than the remaining body",
            frame_with_lengths(
                valid_json.len() as u32,
                &valid_json,
                u32::try_from(valid_crate.len() + 1).unwrap(),
                &valid_crate,
            ),
            400,
            &[".crate length", "shorter"],
        ),
        case(
            "trailing bytes after the crate",
            {
                let mut b = frame(&valid_json, &valid_crate);
                b.extend_from_slice(b"trailing garbage");
                b
            },
            400,
            &["16 unexpected bytes after the .crate"],
        ),
        case("crate length 0 (empty .crate)", frame(&valid_json, &[]), 400, &["invalid .crate file"]),
        // --- size limits (413) -----------------------------------------------------------------
        case(
            "JSON length over the 1 MiB limit (real oversize JSON)",
            {
                let big = PublishRequest::new(NEW, "1.0.0").field("readme", json!("x".repeat(MIB))).metadata_bytes();
                assert!(big.len() > MIB);
                frame(&big, &valid_crate)
            },
            413,
            &["metadata", "1048576"],
        ),
        case(
            "JSON length prefix u32::MAX with a short body",
            frame_with_lengths(u32::MAX, &valid_json, valid_crate.len() as u32, &valid_crate),
            413,
            &["metadata", "limit"],
        ),
        case(
            ".crate over 10 MiB (real oversize body)",
            frame(&valid_json, &vec![0u8; 10 * MIB + 1]),
            413,
            &[".crate", "10485760"],
        ),
        // --- the metadata JSON -----------------------------------------------------------------
        case(
            "invalid UTF-8 in the JSON",
            with_json(b"{\"name\":\"new-crate\xff\xfe\",\"vers\":\"1.0.0\",\"deps\":[]}"),
            400,
            &["metadata json"],
        ),
        case("JSON syntax error", with_json(b"{\"name\": \"new-crate\", "), 400, &["metadata json"]),
        case("JSON array instead of an object", with_json(b"[1, 2, 3]"), 400, &["metadata json"]),
        case("JSON string instead of an object", with_json(b"\"new-crate\""), 400, &["metadata json"]),
        case("JSON null", with_json(b"null"), 400, &["metadata json"]),
        case("missing `name`", without_field("name"), 400, &["metadata json", "name"]),
        case("missing `vers`", without_field("vers"), 400, &["metadata json", "vers"]),
        case("missing `deps`", without_field("deps"), 400, &["metadata json", "deps"]),
        case("`deps` is an object", with_field("deps", json!({})), 400, &["metadata json"]),
        case("`name` is a number", with_field("name", json!(42)), 400, &["metadata json"]),
        // --- crate names -------------------------------------------------------------------------
        case("empty name", publish("", "1.0.0"), 400, &["name", "empty"]),
        case("name starts with a digit", publish("1crate", "1.0.0"), 400, &["1crate", "first character"]),
        case("name starts with `-`", publish("-crate", "1.0.0"), 400, &["first character"]),
        case("name with a space", publish("my crate", "1.0.0"), 400, &["invalid character", "my crate"]),
        case("name with a dot", publish("my.crate", "1.0.0"), 400, &["invalid character"]),
        case("non-ASCII name", publish("cr\u{e2}te", "1.0.0"), 400, &["invalid character"]),
        case("65-character name", publish(&format!("a{}", "b".repeat(64)), "1.0.0"), 400, &["too long", "64"]),
        case("reserved name `std`", publish("std", "1.0.0"), 400, &["`std`", "reserved"]),
        case("reserved name `proc-macro`", publish("proc-macro", "1.0.0"), 400, &["proc-macro", "reserved"]),
        case("reserved name `proc_macro`", publish("proc_macro", "1.0.0"), 400, &["proc_macro", "reserved"]),
        case("reserved name `nul`", publish("nul", "1.0.0"), 400, &["nul", "reserved"]),
        case("reserved name `COM1` (case-insensitive)", publish("COM1", "1.0.0"), 400, &["reserved"]),
        case(
            "`existing_crate`: other spelling of `Existing-Crate`",
            publish("existing_crate", "2.0.0"),
            400,
            &["previously named", "Existing-Crate"],
        ),
        case(
            "`EXISTING-CRATE`: other case of `Existing-Crate`",
            publish("EXISTING-CRATE", "2.0.0"),
            400,
            &["previously named", "Existing-Crate"],
        ),
        // --- versions ---------------------------------------------------------------------------
        case("duplicate version 1.0.0", publish(EXISTING, "1.0.0"), 409, &["1.0.0", "already exists"]),
        case(
            "1.0.0+other: same version as 1.0.0 (build metadata)",
            publish(EXISTING, "1.0.0+other"),
            409,
            &["1.0.0+other", "build metadata"],
        ),
        case("1.1.0 next to 1.1.0+build.1", publish(EXISTING, "1.1.0"), 409, &["1.1.0+build.1", "build metadata"]),
        case(
            "1.1.0+build.1 again (exact duplicate with build metadata)",
            publish(EXISTING, "1.1.0+build.1"),
            409,
            &["already exists"],
        ),
        case("version `1.0`", publish(NEW, "1.0"), 400, &["invalid version", "1.0"]),
        case("version `01.0.0`", publish(NEW, "01.0.0"), 400, &["invalid version", "01.0.0"]),
        case("empty version", publish(NEW, ""), 400, &["invalid version"]),
        case("version `v1.0.0`", publish(NEW, "v1.0.0"), 400, &["invalid version"]),
        case(
            "151-character version",
            {
                let v = format!("1.0.0-{}", "a".repeat(145));
                assert_eq!(v.len(), 151);
                with_field("vers", json!(v))
            },
            400,
            &["version", "too long", "150"],
        ),
        // --- metadata limits ---------------------------------------------------------------------
        case(
            "description of 1001 characters",
            with_field("description", json!("d".repeat(1001))),
            400,
            &["description", "1000"],
        ),
        case(
            "6 keywords",
            with_field("keywords", json!(["a", "b", "c", "d", "e", "f"])),
            400,
            &["too many keywords", "5"],
        ),
        case(
            "keyword with a space",
            with_field("keywords", json!(["bad keyword"])),
            400,
            &["invalid keyword", "bad keyword"],
        ),
        case("keyword of 21 characters", with_field("keywords", json!(["k".repeat(21)])), 400, &["invalid keyword"]),
        case(
            "6 categories",
            with_field("categories", json!(["a", "b", "c", "d", "e", "f"])),
            400,
            &["too many categories", "5"],
        ),
        case("invalid `links`", with_field("links", json!("bad links!")), 400, &["links"]),
        case("rust_version `>=1.70`", with_field("rust_version", json!(">=1.70")), 400, &["rust-version", ">=1.70"]),
        case(
            "rust_version `1.70-beta`",
            with_field("rust_version", json!("1.70-beta")),
            400,
            &["rust-version", "1.70-beta"],
        ),
        case("rust_version `1`", with_field("rust_version", json!("1")), 400, &["rust-version"]),
        // --- dependencies -------------------------------------------------------------------------
        case(
            "501 dependencies",
            with_deps((0..501).map(|i| dependency(&format!("dep{i}"), "^1")).collect()),
            400,
            &["too many dependencies", "500"],
        ),
        case(
            "dependency with an invalid version_req",
            with_deps(vec![dependency(EXISTING, "not a version")]),
            400,
            &["invalid version requirement", "not a version"],
        ),
        case(
            "dependency with an invalid kind",
            with_deps(vec![{
                let mut d = dependency(EXISTING, "^1");
                d["kind"] = json!("runtime");
                d
            }]),
            400,
            &["invalid kind", "runtime"],
        ),
        case(
            "dependency with an invalid name",
            with_deps(vec![dependency("bad name", "^1")]),
            400,
            &["invalid dependency", "bad name"],
        ),
        case(
            "dependency on a crate that does not exist in this registry",
            with_deps(vec![dependency("ghost-crate", "^1")]),
            400,
            &["ghost", "does not exist in this registry"],
        ),
        case(
            "dependency without version_req",
            with_deps(vec![json!({"name": EXISTING, "features": [], "optional": false, "default_features": true})]),
            400,
            &["metadata json", "version_req"],
        ),
        case(
            "renamed dependency with an invalid alias",
            with_deps(vec![{
                let mut d = dependency(EXISTING, "^1");
                d["explicit_name_in_toml"] = json!("bad alias");
                d
            }]),
            400,
            &["invalid renamed dependency", "bad alias"],
        ),
        case(
            "dependency registry URL with whitespace",
            with_deps(vec![{
                let mut d = dependency("serde", "^1");
                d["registry"] = json!("https://github.com/rust-lang/crates.io-index extra");
                d
            }]),
            400,
            &["invalid registry url", "serde"],
        ),
        case(
            "dependency with an empty target",
            with_deps(vec![{
                let mut d = dependency(EXISTING, "^1");
                d["target"] = json!("");
                d
            }]),
            400,
            &["invalid target"],
        ),
        case(
            "dependency with an empty feature",
            with_deps(vec![{
                let mut d = dependency(EXISTING, "^1");
                d["features"] = json!([""]);
                d
            }]),
            400,
            &["invalid features"],
        ),
        // --- features -----------------------------------------------------------------------------
        case(
            "feature `dep:x` where x is not a dependency",
            with_deps_and_features(vec![], json!({"f": ["dep:ghost"]})),
            400,
            &["dep:ghost", "no such dependency"],
        ),
        case(
            "feature `dep:x` where x is not optional",
            with_deps_and_features(vec![dependency(EXISTING, "^1")], json!({"f": ["dep:Existing-Crate"]})),
            400,
            &["dep:Existing-Crate", "optional"],
        ),
        case(
            "feature referencing a missing feature",
            with_deps_and_features(vec![], json!({"a": ["missing-feature"]})),
            400,
            &["missing-feature", "no such feature"],
        ),
        case(
            "feature `x/feat` where x is not a dependency",
            with_deps_and_features(vec![], json!({"a": ["ghost/feat"]})),
            400,
            &["ghost/feat", "no such dependency"],
        ),
        case(
            "invalid feature name",
            with_deps_and_features(vec![], json!({"bad feature": []})),
            400,
            &["invalid feature name", "bad feature"],
        ),
        case(
            "301 features",
            with_deps_and_features(vec![], Value::Object((0..301).map(|i| (format!("f{i}"), json!([]))).collect())),
            400,
            &["too many features", "300"],
        ),
        case("`keywords` is a string", with_field("keywords", json!("one,two")), 400, &["metadata json"]),
        case(
            "101 authors",
            with_field("authors", json!((0..101).map(|i| format!("author {i}")).collect::<Vec<_>>())),
            400,
            &["authors"],
        ),
        case(
            "homepage over 1024 characters",
            with_field("homepage", json!("h".repeat(1025))),
            400,
            &["homepage", "too long"],
        ),
        // --- the .crate archive -------------------------------------------------------------------
        case("not gzip", with_crate(b"this is not a gzip stream at all".repeat(10)), 400, &["invalid .crate file"]),
        case(
            "gzip but not tar",
            with_crate(gzip(&b"hello, this is plain text and no tar archive\n".repeat(40))),
            400,
            &["invalid .crate file"],
        ),
        case(
            "a plain (uncompressed) tar",
            with_crate(CrateTarball::new(NEW, "1.0.0").uncompressed().build()),
            400,
            &["invalid .crate file"],
        ),
        case(
            "truncated gzip stream",
            {
                let full = CrateTarball::new(NEW, "1.0.0").build();
                with_crate(full[..full.len() / 2].to_vec())
            },
            400,
            &["invalid .crate file"],
        ),
        case(
            "tar entry outside `{name}-{vers}/`",
            with_crate(CrateTarball::new(NEW, "1.0.0").entry(TarEntry::file("elsewhere/evil.rs", "evil")).build()),
            400,
            &["elsewhere/evil.rs", "not inside"],
        ),
        case(
            "files under the wrong version's prefix",
            with_crate(CrateTarball::new(NEW, "1.0.0").prefix("new-crate-9.9.9").build()),
            400,
            &["not inside"],
        ),
        case(
            "path traversal `{name}-{vers}/../../evil`",
            with_crate(
                CrateTarball::new(NEW, "1.0.0").entry(TarEntry::file(format!("{p}/../../evil"), "evil")).build(),
            ),
            400,
            &["../../evil", "not inside"],
        ),
        case(
            "path traversal hidden in the middle `{name}-{vers}/src/../../../evil`",
            with_crate(
                CrateTarball::new(NEW, "1.0.0").entry(TarEntry::file(format!("{p}/src/../../../evil"), "evil")).build(),
            ),
            400,
            &["not inside"],
        ),
        case(
            "absolute path entry",
            with_crate(CrateTarball::new(NEW, "1.0.0").entry(TarEntry::file("/tmp/raktar-evil", "evil")).build()),
            400,
            &["/tmp/raktar-evil", "not inside"],
        ),
        case(
            "absolute path entry with the crate prefix",
            with_crate(CrateTarball::new(NEW, "1.0.0").entry(TarEntry::file(format!("/{p}/evil"), "evil")).build()),
            400,
            &["not inside"],
        ),
        case(
            "PAX header with a traversal `path`",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new("pax", tar::EntryType::XHeader, pax_record("path", "../../pax-evil")));
                    e.push(RawEntry::file(format!("{p}/innocent.rs"), "evil"));
                    e
                },
                true,
            ))),
            400,
            &["pax-evil", "not inside"],
        ),
        case(
            "GNU long name with a traversal",
            with_crate(gzip(&raw_tar(
                &{
                    let long = format!("{p}/{}/../../../../gnu-evil\0", "a".repeat(120));
                    let mut e = valid_entries();
                    e.push(RawEntry::new("././@LongLink", tar::EntryType::GNULongName, long.into_bytes()));
                    e.push(RawEntry::file(format!("{p}/short.rs"), "evil"));
                    e
                },
                true,
            ))),
            400,
            &["gnu-evil", "not inside"],
        ),
        case(
            "GNU long-name header over 4 KiB",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new("././@LongLink", tar::EntryType::GNULongName, vec![b'a'; 5000]));
                    e.push(RawEntry::file(format!("{p}/x.rs"), "x"));
                    e
                },
                true,
            ))),
            400,
            &["extension header", "4096"],
        ),
        case(
            "PAX header over 4 KiB",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new("pax", tar::EntryType::XHeader, pax_record("comment", &"c".repeat(5000))));
                    e.push(RawEntry::file(format!("{p}/x.rs"), "x"));
                    e
                },
                true,
            ))),
            400,
            &["extension header", "4096"],
        ),
        case(
            "PAX `size` override",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new("pax", tar::EntryType::XHeader, pax_record("size", "1")));
                    e.push(RawEntry::file(format!("{p}/x.rs"), "x"));
                    e
                },
                true,
            ))),
            400,
            &["PAX `size`"],
        ),
        case(
            "directory entry claiming more than the unpacked limit",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    let mut dir = RawEntry::new(format!("{p}/dir"), tar::EntryType::Directory, Vec::new());
                    dir.size = 600 * MIB as u64;
                    e.push(dir);
                    e
                },
                false,
            ))),
            413,
            &["unpacked"],
        ),
        case(
            "symlink entry",
            with_crate(
                CrateTarball::new(NEW, "1.0.0").entry(TarEntry::symlink(format!("{p}/link"), "/etc/passwd")).build(),
            ),
            400,
            &["link", "not a regular file"],
        ),
        case(
            "hard link entry",
            with_crate(
                CrateTarball::new(NEW, "1.0.0")
                    .entry(TarEntry::hardlink(format!("{p}/hard"), format!("{p}/Cargo.toml")))
                    .build(),
            ),
            400,
            &["hard", "not a regular file"],
        ),
        case(
            "FIFO entry",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new(format!("{p}/fifo"), tar::EntryType::Fifo, Vec::new()));
                    e
                },
                true,
            ))),
            400,
            &["fifo", "not a regular file"],
        ),
        case(
            "character device entry",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    e.push(RawEntry::new(format!("{p}/dev"), tar::EntryType::Char, Vec::new()));
                    e
                },
                true,
            ))),
            400,
            &["dev", "not a regular file"],
        ),
        case(
            "entry whose header claims more data than the archive holds",
            with_crate(gzip(&raw_tar(
                &{
                    let mut e = valid_entries();
                    let mut short = RawEntry::file(format!("{p}/short.rs"), vec![b'x'; 100]);
                    short.size = 100_000;
                    e.push(short);
                    e
                },
                false,
            ))),
            400,
            &["invalid .crate file"],
        ),
        case(
            "missing Cargo.toml",
            with_crate(CrateTarball::new(NEW, "1.0.0").without_file("Cargo.toml").build()),
            400,
            &["Cargo.toml", "missing"],
        ),
        case(
            "Cargo.toml only at the archive root",
            with_crate(
                CrateTarball::new(NEW, "1.0.0")
                    .without_file("Cargo.toml")
                    .entry(TarEntry::file("Cargo.toml", default_manifest(NEW, "1.0.0")))
                    .build(),
            ),
            400,
            &["not inside"],
        ),
        case(
            "packaged Cargo.toml with a different name",
            with_crate(CrateTarball::new(NEW, "1.0.0").manifest(&default_manifest("other-name", "1.0.0")).build()),
            400,
            &["other-name", "new-crate"],
        ),
        case(
            "packaged Cargo.toml with a different version",
            with_crate(CrateTarball::new(NEW, "1.0.0").manifest(&default_manifest(NEW, "1.0.1")).build()),
            400,
            &["1.0.1", "version"],
        ),
        case(
            "packaged Cargo.toml that does not parse",
            with_crate(CrateTarball::new(NEW, "1.0.0").manifest("[package\nname = ").build()),
            400,
            &["Cargo.toml", "does not parse"],
        ),
        case(
            "packaged Cargo.toml without [package]",
            with_crate(CrateTarball::new(NEW, "1.0.0").manifest("[workspace]\nmembers = []\n").build()),
            400,
            &["[package]"],
        ),
        case(
            "packaged Cargo.toml that is not UTF-8",
            with_crate(
                CrateTarball::new(NEW, "1.0.0").file("Cargo.toml", b"[package]\nname = \"\xff\"\n".to_vec()).build(),
            ),
            400,
            &["Cargo.toml", "UTF-8"],
        ),
    ];

    // --- authentication and authorization ----------------------------------------------------------
    let new_crate = publish(NEW, "1.0.0");
    cases.extend([
        as_user(Who::Anonymous, "no token", new_crate.clone(), 401, &["needs a token", "cargo login"]),
        as_user(
            Who::Raw("rkt_notarealtokenatall0123456789"),
            "unknown token",
            new_crate.clone(),
            401,
            &["invalid or has been revoked"],
        ),
        as_user(
            Who::Raw("not-a-raktar-token"),
            "token without the Raktar prefix",
            new_crate.clone(),
            401,
            &["not a raktar token"],
        ),
        as_user(Who::Revoked, "revoked token", new_crate.clone(), 401, &["invalid or has been revoked"]),
        as_user(Who::Expired, "expired token", new_crate.clone(), 401, &["expired"]),
        as_user(
            Who::NoPublishNew,
            "token without publish-new publishing a new crate",
            new_crate.clone(),
            403,
            &["publish-new"],
        ),
        as_user(Who::ReadOnly, "read-only token publishing a new crate", new_crate.clone(), 403, &["publish-new"]),
        // Authorization comes before the archive is decompressed: the auth error, not the archive's.
        as_user(
            Who::ReadOnly,
            "read-only token with a broken archive",
            with_crate(b"not a gzip stream".to_vec()),
            403,
            &["publish-new"],
        ),
        as_user(
            Who::NonOwner,
            "non-owner with a broken archive for an existing crate",
            PublishRequest::new(EXISTING, "2.0.0").with_tarball(b"not a gzip stream".to_vec()).body(),
            403,
            &["not an owner"],
        ),
        as_user(
            Who::NonOwner,
            "non-owner with a large README for an existing crate",
            PublishRequest::new(EXISTING, "2.0.0").field("readme", json!("r".repeat(40 * 1024))).body(),
            403,
            &["not an owner"],
        ),
        // Metadata within every limit can still make the stored version too large: refused before
        // any write (the old code answered 500 and left the spilled README behind, planted under a
        // name anyone could claim).
        case("metadata too large for one stored item", oversized_item_request(NEW).body(), 413, &["once stored"]),
        as_user(
            Who::NonOwner,
            "large README under a new name, publish failing at the commit",
            oversized_item_request("planted-crate").field("readme", json!("planted ".repeat(5 * 1024))).body(),
            413,
            &["once stored"],
        ),
        as_user(
            Who::ReadOnly,
            "read-only token publishing a new version",
            publish(EXISTING, "2.0.0"),
            403,
            &["publish-update"],
        ),
        as_user(
            Who::NonOwner,
            "non-owner publishing a new version",
            publish(EXISTING, "2.0.0"),
            403,
            &["not an owner", "Existing-Crate"],
        ),
        as_user(
            Who::NonOwner,
            "non-owner publishing under another spelling",
            publish("existing_crate", "2.0.0"),
            400,
            &["previously named"],
        ),
        as_user(
            Who::OtherPattern,
            "token limited to `other-*`, new crate",
            new_crate.clone(),
            403,
            &["other-*", "new-crate"],
        ),
        as_user(
            Who::OtherPattern,
            "token limited to `other-*`, new version of an owned crate",
            publish(EXISTING, "2.0.0"),
            403,
            &["other-*", "Existing-Crate"],
        ),
    ]);
    cases
}

/// Sends one case and checks status, error shape and detail; returns the failure, if any.
async fn run_case(app: &App, tokens: &Tokens, c: &Case) -> Result<(), String> {
    let resp = app.put_crate(c.body.clone(), tokens.get(c.who)).await;
    let mut problems = Vec::new();
    if resp.status != c.status {
        problems.push(format!("expected status {}, got {}", c.status, resp.status));
    }
    match cargo_error_details(&resp.body) {
        Ok(detail) => {
            let lower = detail.to_lowercase();
            for needle in c.detail {
                if !lower.contains(&needle.to_lowercase()) {
                    problems.push(format!("the detail does not contain {needle:?}: {detail:?}"));
                }
            }
        }
        Err(e) => problems.push(e),
    }
    if c.status == 401 {
        let expected = format!("Cargo login_url=\"{}\"", app.state.login_url());
        match resp.header("www-authenticate") {
            Some(v) if v == expected => {}
            other => problems.push(format!("a 401 needs `WWW-Authenticate: {expected}`, got {other:?}")),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{}\n{resp}", problems.join("\n"))) }
}

/// alice (owner of `Existing-Crate` 1.0.0 and 1.1.0+build.1) and bob, with a token per [`Who`].
async fn seed(app: &mut App) -> Tokens {
    let test = &mut app.test;
    test.add_user("alice").await;
    test.add_user("bob").await;
    let owner = test.mint("alice", &[], &[]).await;
    let non_owner = test.mint("bob", &[], &[]).await;
    let no_publish_new = test.mint("alice", &[Scope::Read, Scope::PublishUpdate], &[]).await;
    let read_only = test.mint("alice", &[Scope::Read], &[]).await;
    let other_pattern = test.mint("alice", &[], &["other-*"]).await;
    let revoked = test.mint("alice", &[], &[]).await;
    let expired = test.mint("alice", &[], &[]).await;
    for token in [&revoked, &expired] {
        app.call("GET", "/index/config.json", Some(&token.secret), &[], None).await.assert_status(200);
    }
    app.test.revoke("alice", &revoked).await;
    app.test.expire(&expired).await;

    for vers in ["1.0.0", "1.1.0+build.1"] {
        let resp = app.put_crate(PublishRequest::new(EXISTING, vers).body(), Some(&owner.secret)).await;
        assert_eq!(resp.status, 200, "seeding {EXISTING} {vers} failed:\n{resp}");
    }
    let lines = app.index_lines(EXISTING, Some(&owner.secret)).await;
    assert_eq!(lines.len(), 2, "seeded index file: {lines:?}");
    Tokens { owner, non_owner, no_publish_new, read_only, other_pattern, revoked, expired }
}

#[tokio::test]
async fn malformed_and_forbidden_publishes_are_refused_without_side_effects() {
    let mut app = App::new();
    let tokens = seed(&mut app).await;
    let cases = corpus();
    assert!(cases.len() >= 40, "the corpus must hold at least 40 cases, has {}", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.as_str()), "duplicate case name {:?}", c.name);
    }

    let started = Instant::now();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let before = app.snapshot();
        let outcome = run_case(&app, &tokens, c).await;
        let changed = before.diff(&app.snapshot());
        let mut msg = Vec::new();
        if let Err(e) = outcome {
            msg.push(e);
        }
        if !changed.is_empty() {
            msg.push(format!("the request changed the store or the blobs:\n{changed}"));
        }
        if !msg.is_empty() {
            failures.push(format!("case #{i} `{}`:\n{}", c.name, msg.join("\n")));
        }
    }
    eprintln!("{} corpus cases in {:?}", cases.len(), started.elapsed());

    let resp = app.call("GET", "/index/config.json", Some(&tokens.owner.secret), &[], None).await;
    assert_eq!(resp.status, 200, "config.json after the corpus:\n{resp}");
    let lines = app.index_lines(EXISTING, Some(&tokens.owner.secret)).await;
    let versions: Vec<&str> = lines.iter().filter_map(|l| l["vers"].as_str()).collect();
    assert_eq!(versions, ["1.0.0", "1.1.0+build.1"], "the seeded crate must be untouched");
    let resp = app.call("GET", "/index/ne/w-/new-crate", Some(&tokens.owner.secret), &[], None).await;
    assert_eq!(resp.status, 404, "no case may have created `{NEW}`:\n{resp}");

    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );

    // Control: the well-formed request most cases were derived from is accepted, and the snapshot
    // sees that write (an item and a blob), so an unchanged snapshot above means something.
    let before = app.snapshot();
    let resp = app.put_crate(publish(NEW, "1.0.0"), Some(&tokens.owner.secret)).await;
    assert_eq!(resp.status, 200, "the well-formed control publish must succeed:\n{resp}");
    let changes = before.diff(&app.snapshot());
    assert!(
        changes.contains("item added") && changes.contains("blob added"),
        "the snapshot must see a successful publish:\n{changes}"
    );
    let resp = app.put_crate(publish(EXISTING, "2.0.0"), Some(&tokens.owner.secret)).await;
    assert_eq!(resp.status, 200, "the owner may publish a new version:\n{resp}");
}

/// The unpacked-size limit, with a registry configured for a 1 MiB limit (512 MiB by default is
/// too slow to exercise): a highly compressible file far below the `.crate` limit.
#[tokio::test]
async fn unpacked_size_limit_is_enforced() {
    let mut config = RegistryConfig::default();
    config.limits.max_unpacked_bytes = MIB as u64;
    let mut app = App::with(TestRegistry::with_config(config), |state| state);
    app.test.add_user("alice").await;
    let token = app.test.mint("alice", &[], &[]).await;

    let bomb = CrateTarball::new(NEW, "1.0.0").file("src/zeros.bin", vec![0u8; 2 * MIB]).build();
    assert!(bomb.len() < 64 * 1024, "the archive should compress well ({} bytes)", bomb.len());
    let before = app.snapshot();
    let resp = app.put_crate(with_crate(bomb), Some(&token.secret)).await;
    let detail = resp.assert_cargo_error();
    assert_eq!(resp.status, 413, "an archive unpacking beyond the limit:\n{resp}");
    assert!(detail.contains("unpacked") && detail.contains("1048576"), "detail: {detail}");
    let changed = before.diff(&app.snapshot());
    assert!(changed.is_empty(), "unpacked size over the limit changed:\n{changed}");

    // Just under the limit is fine.
    let ok = CrateTarball::new(NEW, "1.0.0").file("src/zeros.bin", vec![0u8; MIB / 2]).build();
    let resp = app.put_crate(with_crate(ok), Some(&token.secret)).await;
    assert_eq!(resp.status, 200, "an archive within the unpacked limit:\n{resp}");
}

/// The issue-8 attack: a ~200 KB upload whose tar starts with a GNU long-name header of 200 MiB of
/// NULs (the old server buffered it, then answered with the escaped name: gigabytes of memory and
/// a response of hundreds of megabytes). A read-only token is refused by authorization before the
/// archive is touched; a token allowed to publish gets a short 400 from the first header. Error
/// details quoting other client input (serde's JSON errors) are bounded too.
#[tokio::test]
async fn extension_header_bomb_is_refused_cheaply() {
    let mut app = App::new();
    app.test.add_user("alice").await;
    let owner = app.test.mint("alice", &[], &[]).await;
    let read_only = app.test.mint("alice", &[Scope::Read], &[]).await;
    let bomb = long_name_bomb(200 * MIB);
    assert!((100 * 1024..MIB).contains(&bomb.len()), "the bomb is {} bytes", bomb.len());
    let body = with_crate(bomb);

    let before = app.snapshot();
    for (who, token, status, needle) in
        [("read-only", &read_only, 403, "publish-new"), ("owner", &owner, 400, "extension header")]
    {
        let started = Instant::now();
        let resp = app.put_crate(body.clone(), Some(&token.secret)).await;
        let elapsed = started.elapsed();
        assert_eq!(resp.status, status, "{who}: {resp}");
        assert!(resp.body.len() < 2048, "{who}: a {} byte error body", resp.body.len());
        let detail = resp.assert_cargo_error();
        assert!(detail.contains(needle), "{who}: {detail}");
        assert!(elapsed < Duration::from_secs(5), "{who}: refused after {elapsed:?}");
    }
    let changed = before.diff(&app.snapshot());
    assert!(changed.is_empty(), "the long-name bomb changed:\n{changed}");

    // serde quotes the offending value: the detail is cut.
    let huge = PublishRequest::new(NEW, "1.0.0").field("deps", json!("x".repeat(512 * 1024))).body();
    let resp = app.put_crate(huge, Some(&owner.secret)).await;
    assert_eq!(resp.status, 400, "{resp}");
    assert!(resp.body.len() < 2048, "a {} byte error body", resp.body.len());
    assert!(resp.assert_cargo_error().contains("metadata JSON"));
}
