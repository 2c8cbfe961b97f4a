//! The table's one definition ([`table_definition`], exported as `schema/dynamodb-table.json`)
//! and [`create_table`].

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use raktar_core::store::item::{Index, PK, SK, StoreError};
use serde::{Deserialize, Serialize};

use super::{build_error, map_sdk_error};

/// The table name in the exported definition; deployments and tests use their own names.
pub const TABLE_NAME_PLACEHOLDER: &str = "raktar";
/// The attribute DynamoDB's time-to-live deletes items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How long [`create_table`] waits for a new table to become active.
const CREATE_TABLE_WAIT: Duration = Duration::from_secs(300);

/// The table's definition, serialized with CloudFormation `AWS::DynamoDB::Table` property names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    pub table_name: String,
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: TtlDef,
}

/// One attribute of a key schema (`AttributeType` `S`: string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

/// One element of a key schema (`KeyType` `HASH` or `RANGE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionDef {
    pub projection_type: String,
}

/// The time-to-live setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

fn key_schema(pk: &str, sk: &str) -> Vec<KeyElement> {
    vec![
        KeyElement { attribute_name: pk.into(), key_type: "HASH".into() },
        KeyElement { attribute_name: sk.into(), key_type: "RANGE".into() },
    ]
}

/// The one definition of the table (the single source of `schema/dynamodb-table.json`).
pub fn table_definition() -> TableDefinition {
    let string_attr = |name: &str| AttributeDef { attribute_name: name.into(), attribute_type: "S".into() };
    let mut attribute_definitions = vec![string_attr(PK), string_attr(SK)];
    let mut global_secondary_indexes = Vec::new();
    for index in Index::ALL {
        attribute_definitions.push(string_attr(index.pk_attr()));
        attribute_definitions.push(string_attr(index.sk_attr()));
        global_secondary_indexes.push(IndexDef {
            index_name: index.name().into(),
            key_schema: key_schema(index.pk_attr(), index.sk_attr()),
            projection: ProjectionDef { projection_type: "ALL".into() },
        });
    }
    TableDefinition {
        table_name: TABLE_NAME_PLACEHOLDER.into(),
        billing_mode: "PAY_PER_REQUEST".into(),
        attribute_definitions,
        key_schema: key_schema(PK, SK),
        global_secondary_indexes,
        time_to_live_specification: TtlDef { attribute_name: TTL_ATTRIBUTE.into(), enabled: true },
    }
}

fn sdk_key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, StoreError> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// Creates table `name` from [`table_definition`], waits until it is active, and enables TTL.
/// An emulator that does not implement TTL gets a warning, not an error.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let def = table_definition();
    let attribute_definitions = def
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = def
        .global_secondary_indexes
        .iter()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(&i.index_name)
                .set_key_schema(Some(sdk_key_schema(&i.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(i.projection.projection_type.as_str()))
                        .build(),
                )
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .set_attribute_definitions(Some(attribute_definitions))
        .set_key_schema(Some(sdk_key_schema(&def.key_schema)?))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .map_err(|e| map_sdk_error("CreateTable", e))?;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(CREATE_TABLE_WAIT)
        .await
        .map_err(|e| StoreError::backend_source(format!("waiting for table {name}"), e))?;

    let ttl = &def.time_to_live_specification;
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(&ttl.attribute_name)
        .enabled(ttl.enabled)
        .build()
        .map_err(build_error)?;
    match client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await {
        Ok(_) => {}
        Err(e) if matches!(e.code(), Some("NotImplemented" | "NotImplementedError" | "UnknownOperationException")) => {
            tracing::warn!(table = name, error = %DisplayErrorContext(&e), "backend does not implement TTL; skipped");
        }
        Err(e) => return Err(map_sdk_error("UpdateTimeToLive", e)),
    }
    tracing::info!(table = name, "created DynamoDB table");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn table_definition_matches_the_model() {
        let def = table_definition();
        assert_eq!(def.key_schema, key_schema("pk", "sk"));
        let names: Vec<&str> = def.global_secondary_indexes.iter().map(|i| i.index_name.as_str()).collect();
        assert_eq!(names, ["gsi1", "gsi2"]);
        assert!(def.attribute_definitions.iter().all(|a| a.attribute_type == "S"));
        assert_eq!(def.attribute_definitions.len(), 6);
        let json = serde_json::to_value(&def).unwrap();
        assert_eq!(json["GlobalSecondaryIndexes"][1]["KeySchema"][0]["AttributeName"], "gsi2pk");
        assert_eq!(json["TimeToLiveSpecification"]["AttributeName"], "ttl");
        let back: TableDefinition = serde_json::from_value(json).unwrap();
        assert_eq!(back, def);
    }
}
