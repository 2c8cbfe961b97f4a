#!/usr/bin/env bash
# The synthesized backend template runs the real binary: synthesizes the app (or takes
# CDK_OUT=dir of an earlier synth), builds the debug `raktar`, and runs
# test/template_runs_binary.py against moto (.ci/with-moto): the function's environment from the
# template, the table from the template, a crate published and resolved with the real cargo.
#
#   bash infra/test/template-runs-binary.sh
set -euo pipefail
infra="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$infra/.." && pwd)"
export AWS_EC2_METADATA_DISABLED=true
export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1

scratch="$(mktemp -d "${TMPDIR:-/tmp}/raktar-infra-binary.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
out="${CDK_OUT:-}"
if [ -z "$out" ]; then
    out="$scratch/synth"
    echo "==> cdk synth (OIDC by parameters, so the sign-in variables are in the environment)" >&2
    (cd "$infra" && npx cdk synth --quiet --no-notices -o "$out" \
        -c signIn=oidc -c oidcIssuer=https://login.example.com/realms/raktar -c oidcClientId=raktar >/dev/null 2>&1)
fi
# Every backend template under the output folder (test-infra synthesizes two variants); the first
# one (sorted) is also broken on purpose below.
mapfile -t templates < <(find "$out" -name RaktarBackend.template.json | sort)
[ "${#templates[@]}" -gt 0 ] || { echo "no RaktarBackend.template.json under $out" >&2; exit 1; }
template="${templates[0]}"

echo "==> cargo build -p raktar (debug)" >&2
(cd "$root" && cargo build -q -p raktar)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

binary="$target_dir/debug/raktar"
check="$infra/test/template_runs_binary.py"
for t in "${templates[@]}"; do
    echo "==> the template runs the binary: $t" >&2
    bash "$root/.ci/with-moto" "$root/.venv/bin/python" "$check" "$t" "$binary" "$root"
done

# The test must be able to fail: the same run on templates broken on purpose.
mutants="$scratch/mutants"
mkdir -p "$mutants"
python3 - "$template" "$mutants" <<'PY'
import copy, json, sys
template = json.load(open(sys.argv[1]))
def fn(t):
    return next(r for r in t["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
def table(t):
    return next(r for r in t["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")["Properties"]
def renamed(t):
    env = fn(t)["Properties"]["Environment"]["Variables"]
    env["RAKTAR_DYNAMO_TABLE"] = env.pop("RAKTAR_DYNAMODB_TABLE")
def missing_prefix_name(t):
    env = fn(t)["Properties"]["Environment"]["Variables"]
    env["RAKTAR_S3_BUCKET_NAME"] = env.pop("RAKTAR_S3_BUCKET")
def without_index(name):
    def mutate(t):
        props = table(t)
        gone = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == name]
        props["GlobalSecondaryIndexes"] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] != name]
        # As a template without the index would be: its key attributes are not defined either.
        keys = {k["AttributeName"] for i in gone for k in i["KeySchema"]}
        props["AttributeDefinitions"] = [a for a in props["AttributeDefinitions"] if a["AttributeName"] not in keys]
    return mutate
for label, mutate in [("renamed-variable", renamed), ("renamed-bucket-variable", missing_prefix_name),
                      ("no-gsi1", without_index("gsi1")), ("no-gsi2", without_index("gsi2"))]:
    t = copy.deepcopy(template)
    mutate(t)
    json.dump(t, open(f"{sys.argv[2]}/{label}.template.json", "w"))
PY
for mutant in "$mutants"/*.template.json; do
    name="$(basename "$mutant" .template.json)"
    if bash "$root/.ci/with-moto" "$root/.venv/bin/python" "$check" "$mutant" "$binary" "$root" >"$mutants/$name.log" 2>&1; then
        echo "FAIL: the binary test passed on a broken template ($name)" >&2
        cat "$mutants/$name.log" >&2
        exit 1
    fi
    echo "==> broken template refused as it should be ($name): $(grep -m1 '^FAIL' "$mutants/$name.log" | cut -c1-160)" >&2
done
echo "==> template-runs-binary: ok (the real binary ran ${#templates[@]} template(s); 4 broken templates refused)" >&2
