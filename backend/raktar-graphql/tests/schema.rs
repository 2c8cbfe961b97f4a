//! The committed contract (`schema/raktar.v1.graphql`) is exactly what the resolvers export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn committed_schema_matches_the_resolvers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/raktar.v1.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = raktar_graphql::sdl();
    if committed == current {
        return;
    }
    let first_difference = committed
        .lines()
        .zip(current.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("line {}:\n  committed: {a}\n  resolvers: {b}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "one file is a prefix of the other ({} vs {} lines)",
                committed.lines().count(),
                current.lines().count()
            )
        });
    panic!(
        "{} differs from the GraphQL schema the resolvers export ({first_difference}).\n\
         Run `cargo run -p raktar -- schema export` and commit the result. A breaking change needs a new \
         contract version (see schema/README.md); `.ci/schema-check` tells.",
        path.display()
    );
}
