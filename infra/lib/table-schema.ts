// The DynamoDB table definition of the drivers, read from `schema/dynamodb-table.json` (generated
// from `raktar_aws::table_definition`; a Rust test keeps the file and the code equal). The stack
// builds the table from this file and never restates keys, indexes, billing or TTL.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AttributeDefinition {
  readonly AttributeName: string;
  readonly AttributeType: 'S' | 'N' | 'B';
}

export interface KeySchemaElement {
  readonly AttributeName: string;
  readonly KeyType: 'HASH' | 'RANGE';
}

export interface GlobalSecondaryIndex {
  readonly IndexName: string;
  readonly KeySchema: readonly KeySchemaElement[];
  readonly Projection: { readonly ProjectionType: 'ALL' | 'KEYS_ONLY' | 'INCLUDE' };
}

/** `schema/dynamodb-table.json`: CloudFormation `AWS::DynamoDB::Table` property names. */
export interface TableSchema {
  readonly TableName: string;
  readonly BillingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
  readonly AttributeDefinitions: readonly AttributeDefinition[];
  readonly KeySchema: readonly KeySchemaElement[];
  readonly GlobalSecondaryIndexes: readonly GlobalSecondaryIndex[];
  readonly TimeToLiveSpecification: { readonly AttributeName: string; readonly Enabled: boolean };
}

/** The repository root (the folder above `infra/`). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the schema file lives. */
export const TABLE_SCHEMA_PATH = join(REPO_ROOT, 'schema', 'dynamodb-table.json');

/** Reads and checks the table definition (a malformed file stops the synth with its reason). */
export function loadTableSchema(path: string = TABLE_SCHEMA_PATH): TableSchema {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (typeof raw !== 'object' || raw === null) {
    throw new Error(`${path}: not a JSON object`);
  }
  const schema = raw as TableSchema;
  for (const field of [
    'BillingMode',
    'AttributeDefinitions',
    'KeySchema',
    'GlobalSecondaryIndexes',
    'TimeToLiveSpecification',
  ] as const) {
    if (!(field in schema)) {
      throw new Error(`${path}: missing ${field}`);
    }
  }
  return schema;
}

/** The type of an attribute named in a key schema. */
export function attributeType(schema: TableSchema, name: string): AttributeDefinition['AttributeType'] {
  const def = schema.AttributeDefinitions.find((a) => a.AttributeName === name);
  if (def === undefined) {
    throw new Error(`schema/dynamodb-table.json: key attribute ${name} has no AttributeDefinition`);
  }
  return def.AttributeType;
}

/** The attribute of a key schema with the given role, if any. */
export function keyAttribute(keys: readonly KeySchemaElement[], type: 'HASH' | 'RANGE'): string | undefined {
  return keys.find((k) => k.KeyType === type)?.AttributeName;
}
