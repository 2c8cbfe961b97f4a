//! The exported DynamoDB table definition (`schema/dynamodb-table.json`) matches the code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/dynamodb-table.json")
}

/// Fails when the committed file differs from `table_definition()`; with `RAKTAR_UPDATE_SCHEMA=1`
/// it rewrites the file instead.
#[test]
fn exported_table_definition_is_up_to_date() {
    let expected = serde_json::to_string_pretty(&raktar_aws::table_definition()).unwrap() + "\n";
    let path = schema_file();
    if std::env::var("RAKTAR_UPDATE_SCHEMA").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is out of date with raktar_aws::table_definition(). Regenerate it with \
         `RAKTAR_UPDATE_SCHEMA=1 cargo test -p raktar-aws --test schema` and commit the result.\n\
         expected:\n{expected}\nfound:\n{actual}",
        path.display()
    );
}

/// The file parses back into the definition (so infrastructure code can read it with the same type).
#[test]
fn exported_table_definition_parses() {
    let text = serde_json::to_string(&raktar_aws::table_definition()).unwrap();
    let parsed: raktar_aws::TableDefinition = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, raktar_aws::table_definition());
}
