//! Structure-aware input generators for the fuzz suites (property-based, on stable Rust).
//!
//! Each generator produces inputs that are *almost* right, so that the code under test gets past
//! its first checks and into the deep paths: `.crate` archives written header by header (with
//! GNU long names, PAX records, links, lying sizes, bad checksums, truncation), publish metadata
//! with every field cargo sends (and wrong types, oversize strings, hostile characters), publish
//! bodies with honest or lying framing, sparse-index paths and GraphQL documents.
//!
//! Used by `raktar-core`'s unit fuzz tests and by the HTTP fuzz suite of the `raktar` binary. The
//! number of cases is `PROPTEST_CASES` (CI runs a bounded number; see `docs/operations.md` for a
//! long campaign).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The crate name every generated archive and metadata is about (unless the generator picks a
/// hostile one).
pub const FUZZ_NAME: &str = "fuzz-me";
/// Its version.
pub const FUZZ_VERS: &str = "1.0.0";

/// One raw tar entry as written into the archive.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// The header's type flag (`b'0'` file, `b'5'` directory, `b'L'` GNU long name, `b'x'` PAX...).
    pub typeflag: u8,
    /// Bytes of the header's name field (truncated to 100).
    pub name: Vec<u8>,
    /// Bytes of the header's link-name field (truncated to 100).
    pub linkname: Vec<u8>,
    /// The entry's data.
    pub data: Vec<u8>,
    /// The size written in the header when it lies (else the data's length).
    pub claimed_size: Option<u64>,
    /// Writes a wrong header checksum.
    pub bad_checksum: bool,
}

/// A generated `.crate`: entries, then how the archive is finished and compressed.
#[derive(Debug, Clone)]
pub struct RawArchive {
    pub entries: Vec<RawEntry>,
    /// Gzip the tar (cargo always does).
    pub gzip: bool,
    /// Cut the final bytes off after this fraction (per mille) of the archive, if set.
    pub truncate_per_mille: Option<u16>,
    /// Write the two zero blocks that end a tar archive.
    pub end_blocks: bool,
}

impl RawArchive {
    /// The archive's bytes, as uploaded.
    pub fn bytes(&self) -> Vec<u8> {
        let mut tar = Vec::new();
        for e in &self.entries {
            tar.extend_from_slice(&header(e));
            tar.extend_from_slice(&e.data);
            let pad = (512 - e.data.len() % 512) % 512;
            tar.extend(std::iter::repeat_n(0u8, pad));
        }
        if self.end_blocks {
            tar.extend(std::iter::repeat_n(0u8, 1024));
        }
        let mut out = if self.gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&tar);
            enc.finish().unwrap_or_default()
        } else {
            tar
        };
        if let Some(per_mille) = self.truncate_per_mille {
            let keep = out.len() * usize::from(per_mille.min(1000)) / 1000;
            out.truncate(keep);
        }
        out
    }
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    let s = s.as_bytes();
    // Values too large for the field keep their low digits (a lie the reader must survive).
    let s = &s[s.len().saturating_sub(digits)..];
    field[..s.len()].copy_from_slice(s);
    field[digits] = 0;
}

/// A 512-byte ustar/GNU header for `e`.
fn header(e: &RawEntry) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = &e.name[..e.name.len().min(100)];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], e.claimed_size.unwrap_or(e.data.len() as u64));
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = e.typeflag;
    let link = &e.linkname[..e.linkname.len().min(100)];
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum::<u32>() + u32::from(e.bad_checksum) * 7;
    let cks = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(&cks.as_bytes()[..8]);
    h
}

fn prefix() -> String {
    format!("{FUZZ_NAME}-{FUZZ_VERS}")
}

/// A manifest for the fuzz crate, sometimes subtly wrong.
fn manifest() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(format!("[package]\nname = \"{FUZZ_NAME}\"\nversion = \"{FUZZ_VERS}\"\nedition = \"2021\"\n").into_bytes()),
        1 => Just(format!("[package]\nname = \"other\"\nversion = \"{FUZZ_VERS}\"\n").into_bytes()),
        1 => Just(format!("[package]\nname = \"{FUZZ_NAME}\"\nversion = \"9.9.9\"\n").into_bytes()),
        1 => Just(b"[package\nname = ".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Entry paths: inside the crate's folder, escaping it, absolute, long, with NULs or non-UTF-8.
fn entry_path() -> impl Strategy<Value = Vec<u8>> {
    let p = prefix();
    prop_oneof![
        4 => "[a-z]{1,12}(/[a-z]{1,12}){0,3}\\.rs".prop_map({ let p = p.clone(); move |s| format!("{p}/src/{s}").into_bytes() }),
        1 => Just(format!("{p}/Cargo.toml").into_bytes()),
        1 => Just(format!("{p}/../../etc/passwd").into_bytes()),
        1 => Just(b"/etc/passwd".to_vec()),
        1 => Just(b"other-1.0.0/src/lib.rs".to_vec()),
        1 => Just(format!("{p}/").into_bytes()),
        1 => (1usize..400).prop_map({ let p = p.clone(); move |n| format!("{p}/{}", "d/".repeat(n)).into_bytes() }),
        1 => proptest::collection::vec(any::<u8>(), 0..120),
    ]
}

/// Bodies of GNU long-name records and PAX extension records (honest or hostile).
fn extension_data() -> impl Strategy<Value = Vec<u8>> {
    let p = prefix();
    prop_oneof![
        3 => "[a-z/]{1,300}".prop_map({ let p = p.clone(); move |s| format!("{p}/{s}\0").into_bytes() }),
        2 => "[a-z/]{1,200}".prop_map({ let p = p.clone(); move |s| {
            let rec = format!(" path={p}/{s}\n");
            // A PAX record's length counts its own digits.
            let mut len = rec.len() + 1;
            while len.to_string().len() + rec.len() != len {
                len = rec.len() + len.to_string().len();
            }
            format!("{len}{rec}").into_bytes()
        }}),
        1 => (0usize..20_000).prop_map(|n| vec![0u8; n]),
        1 => Just(b"99999999999 path=x\n".to_vec()),
        1 => Just(b"5 a=\n7 =b\n".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn raw_entry() -> impl Strategy<Value = RawEntry> {
    let typeflag = prop_oneof![
        8 => Just(b'0'),
        2 => Just(b'5'),
        1 => Just(b'\0'),
        1 => Just(b'1'),
        1 => Just(b'2'),
        1 => Just(b'3'),
        1 => Just(b'6'),
        1 => Just(b'7'),
        1 => Just(b'S'),
        2 => Just(b'L'),
        1 => Just(b'K'),
        2 => Just(b'x'),
        1 => Just(b'g'),
        1 => any::<u8>(),
    ];
    let size_lie = prop_oneof![
        8 => Just(None),
        1 => Just(Some(u64::MAX)),
        1 => (0u64..1 << 33).prop_map(Some),
        1 => (0u64..4096).prop_map(Some),
    ];
    (typeflag, entry_path(), entry_path(), size_lie, proptest::bool::weighted(0.05)).prop_flat_map(
        |(typeflag, name, linkname, claimed_size, bad_checksum)| {
            let data: BoxedStrategy<Vec<u8>> = match typeflag {
                b'L' | b'K' | b'x' | b'g' => extension_data().boxed(),
                b'5' | b'1' | b'2' => Just(Vec::new()).boxed(),
                _ if name.ends_with(b"Cargo.toml") => manifest().boxed(),
                _ => prop_oneof![
                    4 => proptest::collection::vec(any::<u8>(), 0..300),
                    1 => (0usize..70_000).prop_map(|n| vec![b'a'; n]),
                ]
                .boxed(),
            };
            data.prop_map(move |data| RawEntry {
                typeflag,
                name: name.clone(),
                linkname: linkname.clone(),
                data,
                claimed_size,
                bad_checksum,
            })
        },
    )
}

/// A `.crate` archive close to what cargo uploads, with hostile variations.
pub fn crate_archive() -> impl Strategy<Value = RawArchive> {
    let good_manifest = RawEntry {
        typeflag: b'0',
        name: format!("{}/Cargo.toml", prefix()).into_bytes(),
        linkname: Vec::new(),
        data: format!("[package]\nname = \"{FUZZ_NAME}\"\nversion = \"{FUZZ_VERS}\"\n").into_bytes(),
        claimed_size: None,
        bad_checksum: false,
    };
    (
        proptest::collection::vec(raw_entry(), 0..6),
        proptest::bool::weighted(0.7),
        proptest::bool::weighted(0.9),
        proptest::option::weighted(0.1, 0u16..1000),
        proptest::bool::weighted(0.9),
    )
        .prop_map(move |(mut entries, with_manifest, gzip, truncate_per_mille, end_blocks)| {
            if with_manifest {
                entries.insert(0, good_manifest.clone());
            }
            RawArchive { entries, gzip, truncate_per_mille, end_blocks }
        })
}

/// Strings that stress messages and parsers: plain, long, control characters, NULs, non-ASCII.
pub fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_-]{0,20}",
        2 => "\\PC{0,40}",
        1 => (0usize..5000).prop_map(|n| "\0".repeat(n)),
        1 => (0usize..20_000).prop_map(|n| "x".repeat(n)),
        1 => Just(String::new()),
        1 => Just("<script>alert(1)</script>".to_owned()),
    ]
}

fn version_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..5, 0u32..20, 0u32..20).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}-[a-z0-9.]{1,10}(\\+[a-z0-9.]{1,10})?",
        1 => hostile_string(),
    ]
}

fn maybe_wrong_type(v: Value) -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => Just(v),
        1 => Just(Value::Null),
        1 => Just(json!(42)),
        1 => Just(json!({"nested": []})),
    ]
}

fn dependency() -> impl Strategy<Value = Value> {
    (
        prop_oneof![3 => "[a-z][a-z0-9_-]{0,12}", 1 => hostile_string()],
        prop_oneof![3 => Just("^1".to_owned()), 1 => Just(">=0.1, <2".to_owned()), 1 => hostile_string()],
        proptest::collection::vec(hostile_string(), 0..3),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just("cfg(unix)".to_owned()), hostile_string()]),
        proptest::option::of(prop_oneof![
            Just("dev".to_owned()),
            Just("build".to_owned()),
            Just("normal".to_owned()),
            hostile_string()
        ]),
        proptest::option::weighted(
            0.2,
            prop_oneof![Just("sparse+http://127.0.0.1:1/index/".to_owned()), hostile_string()],
        ),
        proptest::option::weighted(0.2, "[a-z][a-z0-9_]{0,10}"),
    )
        .prop_map(|(name, req, features, optional, default_features, target, kind, registry, rename)| {
            json!({
                "name": name, "version_req": req, "features": features, "optional": optional,
                "default_features": default_features, "target": target, "kind": kind,
                "registry": registry, "explicit_name_in_toml": rename,
            })
        })
}

/// Publish metadata JSON: every field cargo sends, mostly plausible, sometimes hostile.
pub fn publish_metadata() -> impl Strategy<Value = Value> {
    let name = prop_oneof![8 => Just(FUZZ_NAME.to_owned()), 1 => hostile_string(), 1 => Just("FUZZ_me".to_owned())];
    let vers = prop_oneof![8 => Just(FUZZ_VERS.to_owned()), 2 => version_string()];
    let features = proptest::collection::btree_map(
        prop_oneof![3 => "[a-z]{1,8}", 1 => hostile_string()],
        proptest::collection::vec(
            prop_oneof![2 => "[a-z]{1,8}", 1 => "dep:[a-z]{1,8}", 1 => "[a-z]{1,5}\\??/[a-z]{1,5}", 1 => hostile_string()],
            0..4,
        ),
        0..5,
    );
    let readme = prop_oneof![
        4 => Just(None),
        2 => hostile_string().prop_map(Some),
        1 => (0usize..200_000).prop_map(|n| Some("# big\n".repeat(n / 6 + 1))),
    ];
    (
        (name, vers, proptest::collection::vec(dependency(), 0..5), features),
        (
            proptest::option::of(hostile_string()),
            readme,
            proptest::collection::vec(hostile_string(), 0..7),
            proptest::collection::vec(hostile_string(), 0..7),
            proptest::option::of(hostile_string()),
            proptest::option::of(prop_oneof![Just("1.70".to_owned()), hostile_string()]),
            proptest::option::of(hostile_string()),
        ),
        proptest::collection::vec(("[a-z_]{1,12}", hostile_string()), 0..3),
    )
        .prop_flat_map(
            |(
                (name, vers, deps, features),
                (description, readme, keywords, categories, license, rust_version, links),
                extra,
            )| {
                let mut obj = Map::new();
                obj.insert("name".into(), json!(name));
                obj.insert("vers".into(), json!(vers));
                obj.insert("deps".into(), json!(deps));
                obj.insert("features".into(), json!(features));
                obj.insert("authors".into(), json!(["Fuzz <fuzz@example.com>"]));
                obj.insert("description".into(), json!(description));
                obj.insert("readme".into(), json!(readme));
                obj.insert("keywords".into(), json!(keywords));
                obj.insert("categories".into(), json!(categories));
                obj.insert("license".into(), json!(license));
                obj.insert("rust_version".into(), json!(rust_version));
                obj.insert("links".into(), json!(links));
                obj.insert("badges".into(), json!({}));
                for (k, v) in extra {
                    obj.insert(k, json!(v));
                }
                let fields: Vec<String> = obj.keys().cloned().collect();
                let base = Value::Object(obj);
                // Now and then one field gets the wrong JSON type.
                (Just(base), proptest::sample::select(fields), maybe_wrong_type(Value::Bool(true))).prop_map(
                    |(mut base, field, replacement)| {
                        if replacement != Value::Bool(true) {
                            base[&field] = replacement;
                        }
                        base
                    },
                )
            },
        )
}

/// A publish body: honest framing (most of the time) around metadata and an archive.
pub fn publish_body() -> impl Strategy<Value = Vec<u8>> {
    let json_bytes = prop_oneof![
        10 => publish_metadata().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => proptest::collection::vec(any::<u8>(), 0..100),
        1 => Just(b"{\"name\": \"fuzz-me\", \"vers\": ".to_vec()),
    ];
    let framing = prop_oneof![
        10 => Just(Framing::Honest),
        1 => any::<u32>().prop_map(Framing::JsonLength),
        1 => any::<u32>().prop_map(Framing::CrateLength),
        1 => (0usize..64).prop_map(Framing::Trailing),
        1 => (0usize..16).prop_map(Framing::CutAt),
    ];
    (json_bytes, crate_archive(), framing).prop_map(|(json, archive, framing)| frame(&json, &archive.bytes(), framing))
}

/// How a publish body's lengths are written.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    Honest,
    /// The JSON length field says this instead.
    JsonLength(u32),
    /// The crate length field says this instead.
    CrateLength(u32),
    /// This many extra bytes after the crate.
    Trailing(usize),
    /// The body is cut to this many bytes.
    CutAt(usize),
}

/// Frames a publish body (`u32 LE json length, json, u32 LE crate length, crate`).
pub fn frame(json: &[u8], krate: &[u8], framing: Framing) -> Vec<u8> {
    let json_len = match framing {
        Framing::JsonLength(n) => n,
        _ => u32::try_from(json.len()).unwrap_or(u32::MAX),
    };
    let crate_len = match framing {
        Framing::CrateLength(n) => n,
        _ => u32::try_from(krate.len()).unwrap_or(u32::MAX),
    };
    let mut body = Vec::with_capacity(json.len() + krate.len() + 8);
    body.extend_from_slice(&json_len.to_le_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(&crate_len.to_le_bytes());
    body.extend_from_slice(krate);
    match framing {
        Framing::Trailing(n) => body.extend(std::iter::repeat_n(0xAB, n)),
        Framing::CutAt(n) => body.truncate(n),
        _ => {}
    }
    body
}

/// Sparse-index request paths (after `/index/`): well-formed, almost, and hostile.
pub fn index_request_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        3 => "[a-z0-9_-]{1,6}",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just(String::new()),
        1 => Just("config.json".to_owned()),
        1 => "[A-Z]{1,4}",
        1 => "%[0-9a-fA-F]{2}[a-z]{0,3}",
        1 => "%[g-z]{2}",
        1 => "[a-z]{65,80}",
        1 => "\\PC{1,5}",
    ];
    prop_oneof![
        2 => "[a-z][a-z0-9_-]{0,20}".prop_map(|n| crate::domain::index_path(&n)),
        3 => proptest::collection::vec(segment, 1..5).prop_map(|segs| segs.join("/")),
    ]
}

/// GraphQL documents: valid queries over the v1 schema, then aliases, fragments, variables,
/// unknown fields, deep nesting and cut-off text.
pub fn graphql_document() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(vec![
        "name",
        "description",
        "maxVersion",
        "readme",
        "login",
        "totalCount",
        "version",
        "yanked",
        "cksum",
        "license",
        "__typename",
        "nosuchfield",
        "createdAt",
    ]);
    let object = proptest::sample::select(vec![
        "crate(name: \"demo\")",
        "crate(name: \"fuzz-me\")",
        "crate(name: \"no such\")",
        "crates(query: \"d\", first: 5)",
        "crates(query: \"\", first: 100000)",
        "crates(first: -1)",
        "users(first: 3)",
        "user(login: \"alice\")",
        "me",
        "myTokens",
        "auditEvents(first: 2)",
        "__schema",
        "__type(name: \"Crate\")",
    ]);
    let sub = proptest::sample::select(vec![
        "versions",
        "owners",
        "nodes",
        "edges",
        "node",
        "dependencies",
        "features",
        "downloads",
        "crates",
        "types",
        "fields",
    ]);
    let selection = (leaf.clone(), proptest::collection::vec((sub, proptest::collection::vec(leaf, 1..4)), 0..3))
        .prop_map(|(l, subs)| {
            let mut s = format!("{l} ");
            for (name, leaves) in subs {
                s.push_str(&format!("{name} {{ {} }} ", leaves.join(" ")));
            }
            s
        });
    let root_field = (object, proptest::option::weighted(0.3, "[a-z][a-zA-Z0-9_]{0,6}"), selection, 0u8..4).prop_map(
        |(obj, alias, sel, repeat)| {
            let mut out = String::new();
            for i in 0..=repeat {
                let alias = alias.as_ref().map(|a| format!("{a}{i}: ")).unwrap_or_default();
                out.push_str(&format!("{alias}{obj} {{ {sel} }} "));
            }
            out
        },
    );
    let doc = (
        proptest::sample::select(vec!["", "query ", "query Q($x: String) ", "mutation ", "subscription "]),
        proptest::collection::vec(root_field, 1..5),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(op, fields, fragment)| {
            let mut doc = format!("{op}{{ {} }}", fields.join(" "));
            if fragment {
                doc = doc.replacen("{ name", "{ ...F name", 1);
                doc.push_str(" fragment F on Crate { name owners { login } }");
            }
            doc
        });
    (doc, proptest::option::weighted(0.15, (any::<prop::sample::Index>(), "\\PC{0,8}"))).prop_map(
        |(doc, cut)| match cut {
            Some((at, junk)) => {
                let chars: Vec<char> = doc.chars().collect();
                let at = at.index(chars.len() + 1);
                let mut s: String = chars[..at].iter().collect();
                s.push_str(&junk);
                s
            }
            None => doc,
        },
    )
}

/// The fuzz properties of the domain's input parsers: no input panics, every refusal is an error
/// with a bounded message, and what is accepted satisfies the rules.
#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used)]

    use proptest::test_runner::Config;

    use super::*;
    use crate::domain::{CrateName, CrateVersion, index_path, parse_index_path};
    use crate::services::package;
    use crate::services::publish::{Limits, PublishMetadata, parse_framing, validate};

    /// Longest error message any refusal may produce (client input in it is truncated).
    const MAX_MESSAGE: usize = 1024;

    fn config() -> Config {
        // `PROPTEST_CASES` overrides the number of cases (a long campaign: see docs/operations.md).
        Config { failure_persistence: None, ..Config::default() }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn crate_names(raw in prop_oneof![hostile_string(), "[A-Za-z][A-Za-z0-9_-]{0,70}"]) {
            match CrateName::parse(&raw) {
                Ok(name) => {
                    prop_assert!(name.as_str().len() <= 64 && name.as_str().is_ascii());
                    let lower = name.as_str().to_ascii_lowercase();
                    prop_assert_eq!(parse_index_path(&index_path(name.as_str())), Some(lower));
                }
                Err(e) => prop_assert!(e.to_string().len() <= MAX_MESSAGE, "message too long: {}", e.to_string().len()),
            }
        }

        #[test]
        fn index_paths(path in index_request_path()) {
            if let Some(name) = parse_index_path(&path) {
                prop_assert_eq!(index_path(&name), path);
            }
        }

        #[test]
        fn versions(raw in version_string()) {
            match CrateVersion::parse(&raw) {
                Ok(v) => {
                    prop_assert!(v.as_str().len() <= 150);
                    prop_assert!(semver::Version::parse(v.as_str()).is_ok());
                }
                Err(e) => prop_assert!(e.to_string().len() <= MAX_MESSAGE),
            }
        }

        #[test]
        fn publish_framing(body in publish_body()) {
            let limits = Limits::default();
            match parse_framing(&body, &limits) {
                Ok((json, krate)) => prop_assert_eq!(json.len() + krate.len() + 8, body.len()),
                Err(e) => prop_assert!(e.to_string().len() <= MAX_MESSAGE),
            }
        }

        #[test]
        fn publish_metadata_validation(meta in publish_metadata()) {
            let limits = Limits::default();
            if let Ok(meta) = serde_json::from_value::<PublishMetadata>(meta) {
                match validate(meta, &limits) {
                    Ok(v) => prop_assert!(v.meta.keywords.len() <= limits.max_keywords),
                    Err(e) => prop_assert!(e.to_string().len() <= MAX_MESSAGE, "message too long: {}", e.to_string().len()),
                }
            }
        }

        #[test]
        fn crate_archives(archive in crate_archive()) {
            let bytes = archive.bytes();
            match package::verify(&bytes, FUZZ_NAME, FUZZ_VERS, 1 << 20) {
                Ok(pkg) => {
                    prop_assert_eq!(pkg.manifest_name.as_str(), FUZZ_NAME);
                    prop_assert!(pkg.unpacked_size <= 1 << 20);
                }
                Err(e) => prop_assert!(e.to_string().len() <= MAX_MESSAGE, "message too long ({} bytes): {:.300}", e.to_string().len(), e.to_string()),
            }
        }

    }
}
