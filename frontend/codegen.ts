import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed documents for every operation in src/graphql/*.graphql, checked against the v1 schema:
// an operation that does not match the schema fails `npm run codegen` (and the CI drift check).
const config: CodegenConfig = {
  schema: "../schema/raktar.v1.graphql",
  documents: ["src/graphql/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        strictScalars: true,
        scalars: { Date: "string", DateTime: "string" },
        enumsAsTypes: true,
        futureProofEnums: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
