"""The synthesized template runs the real binary.

Takes the function's environment from the backend template (CloudFormation references resolved to
local values: the table and bucket names, the API endpoint), creates the table on moto from the
template's own table properties, starts the debug `raktar serve` with exactly that environment
(plus only the listen address, the emulator endpoint and fake credentials), and publishes and
resolves a crate with the real cargo. A renamed or unknown variable, a missing variable, a key or
an index missing from the template fails it.

    python3 template_runs_binary.py TEMPLATE RAKTAR_BINARY REPO_ROOT

Needs RAKTAR_TEST_AWS_ENDPOINT (moto, see .ci/with-moto) and boto3 (installed with moto).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import boto3

TIMEOUT = 120  # seconds, for every subprocess


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def step(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def only_resource(template, resource_type):
    found = [(k, r) for k, r in template["Resources"].items() if r["Type"] == resource_type]
    if len(found) != 1:
        fail(f"expected one {resource_type} in the template, found {len(found)}")
    return found[0]


class Resolver:
    """Resolves the intrinsic functions a CDK template uses in the function's environment."""

    def __init__(self, template, values):
        self.template = template
        self.values = values  # logical id -> local value of its Ref
        self.pseudo = {"AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws",
                       "AWS::AccountId": "123456789012"}

    def __call__(self, value):
        if isinstance(value, str):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            fail(f"cannot resolve {value!r}")
        (fn, arg), = value.items()
        if fn == "Ref":
            if arg in self.pseudo:
                return self.pseudo[arg]
            if arg in self.values:
                return self.values[arg]
            fail(f"no local value for Ref {arg} ({self.kind(arg)})")
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg
            key = f"{logical_id}.{attribute}"
            if key in self.values:
                return self.values[key]
            fail(f"no local value for GetAtt {key} ({self.kind(logical_id)})")
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(self(p) for p in parts)
        if fn == "Fn::Select":
            index, items = arg
            return self(items)[int(index)] if isinstance(items, dict) else self(items[int(index)])
        if fn == "Fn::Split":
            separator, source = arg
            return self(source).split(separator)
        fail(f"unsupported intrinsic function {fn} in the function's environment")

    def kind(self, logical_id):
        resource = self.template.get("Resources", {}).get(logical_id)
        if resource is not None:
            return resource["Type"]
        if logical_id in self.template.get("Parameters", {}):
            return "a parameter"
        return "unknown"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, env, cwd=None, input_text=None):
    out = subprocess.run(cmd, env=env, cwd=cwd, input=input_text, capture_output=True, text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        fail(f"`{' '.join(cmd)}` exited {out.returncode}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}")
    return out.stdout


def variables_the_binary_reads(binary, repo):
    """`[env: NAME=...]` of every subcommand's help, plus the variables main reads directly."""
    names = {"RUST_LOG"}  # tracing's EnvFilter
    help_env = dict(os.environ)
    for sub in (["lambda", "--help"], ["serve", "--help"]):
        text = subprocess.run([binary, *sub], env=help_env, capture_output=True, text=True, timeout=TIMEOUT).stdout
        names.update(re.findall(r"\[env:\s+([A-Z0-9_]+)", text))
    src = os.path.join(repo, "backend", "raktar", "src")
    for name in os.listdir(src):
        if name.endswith(".rs"):
            with open(os.path.join(src, name), encoding="utf-8") as f:
                names.update(re.findall(r'env::var(?:_os)?\("([A-Z0-9_]+)"\)', f.read()))
    return names


def main():
    template_path, binary, repo = sys.argv[1:4]
    endpoint = os.environ.get("RAKTAR_TEST_AWS_ENDPOINT")
    if not endpoint:
        fail("RAKTAR_TEST_AWS_ENDPOINT is not set: run under `bash .ci/with-moto`")
    with open(template_path, encoding="utf-8") as f:
        template = json.load(f)

    table_id, table = only_resource(template, "AWS::DynamoDB::Table")
    bucket_id, _ = only_resource(template, "AWS::S3::Bucket")
    fn_id, fn = only_resource(template, "AWS::Lambda::Function")
    suffix = uuid.uuid4().hex[:10]
    table_name = f"raktar-infra-{suffix}"
    bucket_name = f"raktar-infra-{suffix}"
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    values = {table_id: table_name, bucket_id: bucket_name}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::ApiGatewayV2::Api":
            values[f"{logical_id}.ApiEndpoint"] = public_url
    # Values another stack writes to SSM (the sign-in stack's OIDC client), by parameter name suffix.
    ssm_values = {"/oidc/issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST",
                  "/oidc/client-id": "raktar-test-client"}
    for logical_id, parameter in template.get("Parameters", {}).items():
        name = parameter.get("Default", "")
        for suffix, value in ssm_values.items():
            if parameter.get("Type", "").startswith("AWS::SSM::Parameter::Value") and name.endswith(suffix):
                values[logical_id] = value
    resolve = Resolver(template, values)

    # ---- the environment, from the template ------------------------------------------------
    raw_env = fn["Properties"].get("Environment", {}).get("Variables", {})
    function_env = {name: resolve(value) for name, value in raw_env.items()}
    step(f"function {fn_id} environment: {sorted(function_env)}")
    known = variables_the_binary_reads(binary, repo)
    unknown = sorted(set(function_env) - known)
    if unknown:
        fail(f"the template sets variables the binary does not read: {unknown} (known: {sorted(known)})")
    announced = function_env.get("RAKTAR_PUBLIC_URL")
    if announced != public_url:
        # An installer-chosen URL (the CloudFront or custom domain) stands for the local server.
        if not (announced or "").startswith("https://"):
            fail(f"RAKTAR_PUBLIC_URL is {announced!r}: neither the API endpoint nor an https URL")
        step(f"RAKTAR_PUBLIC_URL {announced} (chosen by the installer) -> {public_url}")
        function_env["RAKTAR_PUBLIC_URL"] = public_url

    # ---- the table and the bucket, from the template's properties --------------------------
    props = table["Properties"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    create = {key: props[key] for key in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode")
              if key in props}
    step(f"creating table {table_name} on moto from {table_id}: indexes "
         f"{[i['IndexName'] for i in create.get('GlobalSecondaryIndexes', [])]}")
    dynamodb.create_table(TableName=table_name, **create)
    if "TimeToLiveSpecification" in props:
        dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket_name)

    work = tempfile.mkdtemp(prefix="raktar-infra-binary-")
    server = None
    try:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", work),
            **function_env,
            # What Lambda would provide, and the emulator:
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "RAKTAR_AWS_ENDPOINT_URL": endpoint,
            # `raktar serve` instead of the Lambda runtime:
            "RAKTAR_LISTEN": f"127.0.0.1:{port}",
            "RAKTAR_DATA_DIR": os.path.join(work, "data"),
        }
        step("raktar user create + token create (the one-time administrator command)")
        run([binary, "user", "create", "ci-admin", "--admin"], env)
        token = run([binary, "token", "create", "--user", "ci-admin", "--name", "infra-test"], env).strip()
        if not token:
            fail("no token printed")

        step(f"raktar serve on {public_url}")
        log = open(os.path.join(work, "serve.log"), "w", encoding="utf-8")
        server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if server.poll() is not None:
                log.close()
                with open(os.path.join(work, "serve.log"), encoding="utf-8") as f:
                    fail(f"raktar serve exited {server.returncode}:\n{f.read()}")
            try:
                with urllib.request.urlopen(f"{public_url}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            fail("raktar serve did not answer /health within 30 s")
        with urllib.request.urlopen(urllib.request.Request(
                f"{public_url}/index/config.json", headers={"Authorization": token}), timeout=5) as r:
            config = json.load(r)
        if not config.get("dl", "").startswith(public_url) or config.get("auth-required") is not True:
            fail(f"unexpected config.json {config}")

        # ---- the real cargo ------------------------------------------------------------------
        cargo_home = os.path.join(work, "cargo-home")
        os.makedirs(cargo_home)
        with open(os.path.join(cargo_home, "config.toml"), "w", encoding="utf-8") as f:
            f.write(f'[registries.raktar]\nindex = "sparse+{public_url}/index/"\n\n'
                    '[registry]\nglobal-credential-providers = ["cargo:token"]\n')
        with open(os.path.join(cargo_home, "credentials.toml"), "w", encoding="utf-8") as f:
            f.write(f'[registries.raktar]\ntoken = "{token}"\n')
        cargo_env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "__CARGO", "RAKTAR_", "AWS_"))}
        cargo_env.update({"CARGO_HOME": cargo_home, "CARGO_TARGET_DIR": os.path.join(work, "target"),
                          "CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never"})
        cargo = os.environ.get("CARGO", "cargo")

        step("cargo publish raktar-base 1.0.0")
        crate = os.path.join(work, "raktar-base")
        shutil.copytree(os.path.join(repo, "fixtures", "crates", "raktar-base-1.0.0"), crate)
        run([cargo, "publish", "--registry", "raktar", "--no-verify", "--allow-dirty"], cargo_env, cwd=crate)

        step("cargo generate-lockfile + fetch in a consumer (sparse index, download through S3)")
        consumer = os.path.join(work, "consumer")
        os.makedirs(os.path.join(consumer, "src"))
        with open(os.path.join(consumer, "Cargo.toml"), "w", encoding="utf-8") as f:
            f.write('[package]\nname = "infra-consumer"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
                    '[dependencies]\nraktar-base = { version = "1", registry = "raktar" }\n\n[workspace]\n')
        with open(os.path.join(consumer, "src", "lib.rs"), "w", encoding="utf-8") as f:
            f.write("pub use raktar_base as base;\n")
        run([cargo, "generate-lockfile"], cargo_env, cwd=consumer)
        with open(os.path.join(consumer, "Cargo.lock"), encoding="utf-8") as f:
            lock = f.read()
        if 'name = "raktar-base"\nversion = "1.0.0"' not in lock:
            fail(f"Cargo.lock does not resolve raktar-base 1.0.0:\n{lock}")
        run([cargo, "fetch"], cargo_env, cwd=consumer)

        step("cargo search (the catalog index, gsi2) and raktar token list (a user's tokens, gsi1)")
        found = run([cargo, "search", "--registry", "raktar", "raktar-base"], cargo_env, cwd=work)
        if "raktar-base" not in found:
            fail(f"cargo search did not find raktar-base:\n{found}")
        tokens = run([binary, "token", "list", "--user", "ci-admin", "--json"], env)
        if "infra-test" not in tokens:
            fail(f"token list does not show the token:\n{tokens}")
        print("the template runs the binary: published, resolved, fetched, searched", file=sys.stderr)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
