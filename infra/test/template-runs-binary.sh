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

out="${CDK_OUT:-}"
if [ -z "$out" ]; then
    out="$(mktemp -d "${TMPDIR:-/tmp}/raktar-infra-synth.XXXXXX")"
    trap 'rm -rf "$out"' EXIT
    echo "==> cdk synth (OIDC by parameters, so the sign-in variables are in the environment)" >&2
    (cd "$infra" && npx cdk synth --quiet -o "$out" \
        -c signIn=oidc -c oidcIssuer=https://login.example.com/realms/raktar -c oidcClientId=raktar >/dev/null)
fi
template="$out/RaktarBackend.template.json"
[ -f "$template" ] || { echo "no $template" >&2; exit 1; }

echo "==> cargo build -p raktar (debug)" >&2
(cd "$root" && cargo build -q -p raktar)
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

bash "$root/.ci/with-moto" "$root/.venv/bin/python" "$infra/test/template_runs_binary.py" \
    "$template" "$target_dir/debug/raktar" "$root"
