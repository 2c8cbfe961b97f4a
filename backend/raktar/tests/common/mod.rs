//! Test harness for the end-to-end tests: a real `raktar serve` process on 127.0.0.1, the `raktar`
//! admin CLI, a throw-away CARGO_HOME driving the real `cargo`, and a small HTTP client.
//!
//! Every wait is bounded: a hanging server, CLI or cargo process fails the test instead of blocking.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod aws;
pub mod graphql;
pub mod mirror;
pub mod publish;
pub mod snapshot;
pub mod web;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long the server may take to print its listening line.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for one `raktar` admin command.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for one cargo command (a publish may poll the index for up to 60 s; builds compile).
pub const CARGO_TIMEOUT: Duration = Duration::from_secs(240);
/// Bound for one raw HTTP request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry name used in every CARGO_HOME config and in the fixtures' `registry = "raktar"`.
pub const REGISTRY: &str = "raktar";

/// `fixtures/` at the workspace root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// `fixtures/crates/{name}`.
pub fn fixture_crate_dir(name: &str) -> PathBuf {
    let dir = fixtures_dir().join("crates").join(name);
    assert!(dir.is_dir(), "fixture crate {} does not exist", dir.display());
    dir
}

// ---------------------------------------------------------------------------------------------
// Processes with bounded waits
// ---------------------------------------------------------------------------------------------

/// Output of a finished process, with lossy UTF-8 text and the command line for messages.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the full output unless the command succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command was expected to succeed:\n{self}");
        self
    }

    /// Panics with the full output unless the command failed.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "command was expected to fail:\n{self}");
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics unless stdout or stderr contains `needle`.
    #[track_caller]
    pub fn assert_output_contains(&self, needle: &str) -> &Self {
        assert!(self.all().contains(needle), "expected the output to contain {needle:?}:\n{self}");
        self
    }

    /// Panics if stdout or stderr contains `needle`.
    #[track_caller]
    pub fn assert_output_lacks(&self, needle: &str) -> &Self {
        assert!(!self.all().contains(needle), "expected the output NOT to contain {needle:?}:\n{self}");
        self
    }

    /// Panics if the process panicked (cargo's `ok:false` panic, or a server-side bug surfacing as
    /// a cargo panic).
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Self {
        self.assert_output_lacks("panicked at")
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit status: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("   (in {})", dir.display()));
    }
    s
}

fn spawn_collector(mut reader: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    buf
}

/// Runs `cmd` with stdin closed, collecting stdout/stderr; kills it and panics after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> CmdOutput {
    let command = describe_command(&cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));
    let stdout = spawn_collector(child.stdout.take().unwrap());
    let stderr = spawn_collector(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            thread::sleep(Duration::from_millis(200));
            panic!(
                "`{command}` did not finish within {timeout:?}; killed.\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&stdout.lock().unwrap()),
                String::from_utf8_lossy(&stderr.lock().unwrap()),
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    // The pipes close when the process (and any grandchild holding them) is gone; wait a bounded
    // time for the readers to drain the last bytes.
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < drain_deadline && (Arc::strong_count(&stdout) > 1 || Arc::strong_count(&stderr) > 1) {
        thread::sleep(Duration::from_millis(10));
    }
    let stdout = String::from_utf8_lossy(&stdout.lock().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    CmdOutput { command, status, stdout, stderr }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// The `raktar` binary with no `RAKTAR_*` settings inherited from the environment and plain logs.
pub fn raktar_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raktar"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RAKTAR_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A running `raktar serve` on 127.0.0.1 with its own temporary data dir; killed on drop.
pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT` (no trailing slash), parsed from the server's stdout.
    pub url: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    data_dir: tempfile::TempDir,
    /// The AWS home (`RAKTAR_TEST_HOME=aws`): the server keeps its items and blobs on moto.
    aws: Option<aws::AwsHome>,
    /// The extra `serve` arguments (kept for a restart).
    extra: Vec<String>,
    /// The server's open-file limit, when the test set one.
    fd_limit: Option<u32>,
}

impl TestServer {
    /// Private mode (the default): every request needs a token.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// `--public-read`: reads without a token, writes still need one.
    pub fn start_public_read() -> Self {
        Self::start_with_args(&["--public-read"])
    }

    /// Starts with extra `serve` arguments.
    pub fn start_with_args(extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("raktar-e2e-data-").tempdir().expect("create data dir");
        let aws = aws::aws_home_requested().then(create_aws_home);
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url, stdout, stderr) = spawn_server(data_dir.path(), aws.as_ref(), &extra, None);
        TestServer { child, url, stdout, stderr, data_dir, aws, extra, fd_limit: None }
    }

    /// Starts on the embedded home whatever `RAKTAR_TEST_HOME` says (a stand-in for another
    /// registry, such as the fake upstream of the pull-through cache tests).
    pub fn start_embedded_with_args(extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("raktar-e2e-data-").tempdir().expect("create data dir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url, stdout, stderr) = spawn_server(data_dir.path(), None, &extra, None);
        TestServer { child, url, stdout, stderr, data_dir, aws: None, extra, fd_limit: None }
    }

    /// Stops the server (SIGKILL) and keeps its data; `url` no longer answers.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts with extra `serve` arguments, the server limited to `fd_limit` open files (the
    /// common default of 1024 on many machines), through util-linux `prlimit`.
    pub fn start_with_fd_limit(fd_limit: u32, extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("raktar-e2e-data-").tempdir().expect("create data dir");
        let aws = aws::aws_home_requested().then(create_aws_home);
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url, stdout, stderr) = spawn_server(data_dir.path(), aws.as_ref(), &extra, Some(fd_limit));
        TestServer { child, url, stdout, stderr, data_dir, aws, extra, fd_limit: Some(fd_limit) }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and starts it again on the same
    /// home; `url` changes (a new port). The logs of both runs are kept.
    pub fn kill9_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, url, stdout, stderr) =
            spawn_server(self.data_dir.path(), self.aws.as_ref(), &self.extra, self.fd_limit);
        let previous = format!("{}\n--- (killed with SIGKILL and restarted) ---\n", self.logs());
        self.stdout.lock().unwrap().insert_str(0, &previous);
        self.child = child;
        self.url = url;
        self.stdout = stdout;
        self.stderr = stderr;
    }

    /// `sparse+http://127.0.0.1:PORT/index/`
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.url)
    }

    /// The login/token page cargo should point users to.
    pub fn login_url(&self) -> String {
        format!("{}/me", self.url)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        format!(
            "--- server stdout ---\n{}\n--- server stderr ---\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:") * 1024
    }

    /// The server's resident memory now (`VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:") * 1024
    }

    /// An HTTP client for this server.
    pub fn http(&self) -> Http {
        Http::new(&self.url)
    }

    /// Runs `raktar ARGS --data-dir DIR` (the admin CLI works while the server runs).
    pub fn cli(&self, args: &[&str]) -> CmdOutput {
        run_with_timeout(self.cli_command(args), CLI_TIMEOUT)
    }

    /// The `raktar ARGS` command on this server's home (its data dir, or its table and bucket on
    /// the AWS home), not started.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = raktar_command();
        if let Some(home) = &self.aws {
            home.apply(&mut cmd);
        }
        cmd.args(args).arg("--data-dir").arg(self.data_dir.path());
        cmd
    }

    /// Like [`Self::cli`], asserting success; returns stdout.
    #[track_caller]
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.success(), "raktar CLI failed:\n{out}\n{}", self.logs());
        out.stdout
    }

    /// `raktar user create LOGIN [--admin]`.
    #[track_caller]
    pub fn create_user(&self, login: &str, admin: bool) {
        let mut args = vec!["user", "create", login];
        if admin {
            args.push("--admin");
        }
        self.cli_ok(&args);
    }

    /// `raktar user create LOGIN --name DISPLAY`.
    #[track_caller]
    pub fn create_user_named(&self, login: &str, display: &str) {
        self.cli_ok(&["user", "create", login, "--name", display]);
    }

    /// A token with every scope.
    #[track_caller]
    pub fn create_token(&self, login: &str, name: &str) -> String {
        self.create_token_with(login, name, &[])
    }

    /// `raktar token create --user LOGIN --name NAME EXTRA...` (EXTRA: `--scope`, `--crate`,
    /// `--expires-in`); returns the token (the only stdout line).
    #[track_caller]
    pub fn create_token_with(&self, login: &str, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--user", login, "--name", name];
        args.extend_from_slice(extra);
        let stdout = self.cli_ok(&args);
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "`raktar token create` must print only the token on stdout, got {stdout:?}");
        let token = lines[0].trim().to_string();
        assert!(
            token.bytes().all(|b| b.is_ascii_graphic()),
            "a cargo token must be printable ASCII without spaces: {token:?}"
        );
        token
    }

    /// A user with a full-scope token, in one call.
    #[track_caller]
    pub fn user_with_token(&self, login: &str) -> String {
        self.create_user(login, false);
        self.create_token(login, &format!("{login}-token"))
    }

    #[track_caller]
    pub fn revoke_token(&self, login: &str, name: &str) {
        self.cli_ok(&["token", "revoke", "--user", login, "--name", name]);
    }

    /// The AWS home of this server (`RAKTAR_TEST_HOME=aws`), `None` on the embedded home.
    pub fn aws(&self) -> Option<&aws::AwsHome> {
        self.aws.as_ref()
    }

    /// Every stored `.crate` blob, on either home: blob key (path under `blobs/`, or object key
    /// under the S3 prefix) -> bytes.
    pub fn crate_blobs(&self) -> Vec<(String, Vec<u8>)> {
        match &self.aws {
            Some(home) => home.blobs().into_iter().filter(|(k, _)| k.ends_with(".crate")).collect(),
            None => self
                .crate_files()
                .into_iter()
                .map(|p| {
                    let key =
                        p.strip_prefix(self.data_dir.path().join("blobs")).unwrap_or(&p).to_string_lossy().into_owned();
                    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                    (key, bytes)
                })
                .collect(),
        }
    }

    /// Every stored blob key (data dir files or S3 objects), for failure messages.
    pub fn stored_blobs(&self) -> Vec<String> {
        match &self.aws {
            Some(home) => home.blobs().into_keys().collect(),
            None => self.all_files().iter().map(|p| p.display().to_string()).collect(),
        }
    }

    /// All files under the data dir whose name ends in `.crate` (embedded home only; see
    /// [`Self::crate_blobs`] for either home).
    pub fn crate_files(&self) -> Vec<PathBuf> {
        assert!(
            self.aws.is_none(),
            "crate_files reads the data directory, which the AWS home does not use: call crate_blobs"
        );
        let mut out = Vec::new();
        walk(self.data_dir.path(), &mut |p| {
            if p.extension().is_some_and(|e| e == "crate") {
                out.push(p.to_path_buf());
            }
        });
        out.sort();
        out
    }

    /// Every file under the data dir (for failure messages).
    pub fn all_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(self.data_dir.path(), &mut |p| out.push(p.to_path_buf()));
        out.sort();
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, f),
            Ok(t) if t.is_file() => f(&path),
            _ => {}
        }
    }
}

/// Starts `raktar serve` on 127.0.0.1 with `data_dir` (and the AWS home, if any); waits for its
/// listening line. Returns the child, its URL and its stdout/stderr logs.
fn spawn_server(
    data_dir: &Path,
    aws: Option<&aws::AwsHome>,
    extra: &[String],
    fd_limit: Option<u32>,
) -> (Child, String, Arc<Mutex<String>>, Arc<Mutex<String>>) {
    let mut cmd = raktar_command();
    if let Some(limit) = fd_limit {
        // The same command, run by `prlimit` (which execs it with the lower limit).
        let program = cmd.get_program().to_owned();
        let mut wrapped = Command::new("prlimit");
        wrapped.arg(format!("--nofile={limit}:{limit}")).arg("--").arg(program);
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => wrapped.env(key, v),
                None => wrapped.env_remove(key),
            };
        }
        cmd = wrapped;
    }
    if let Some(home) = aws {
        home.apply(&mut cmd);
    }
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let command = describe_command(&cmd);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));

    let stdout_log = Arc::new(Mutex::new(String::new()));
    let stderr_log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let out = child.stdout.take().unwrap();
        let log = Arc::clone(&stdout_log);
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
    }
    {
        let err = child.stderr.take().unwrap();
        let log = Arc::clone(&stderr_log);
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
    }

    let deadline = Instant::now() + SERVER_START_TIMEOUT;
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("Raktar listening on ").nth(1) {
                    let url = rest.trim().trim_end_matches('/').to_string();
                    assert!(url.starts_with("http://127.0.0.1:"), "unexpected listening URL {url:?} in line {line:?}");
                    break url;
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "`{command}` did not print `Raktar listening on http://...` within \
                     {SERVER_START_TIMEOUT:?} ({e:?}).\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    stdout_log.lock().unwrap(),
                    stderr_log.lock().unwrap()
                );
            }
        }
    };
    // Keep draining stdout (the channel receiver is dropped; sends just fail).
    drop(rx);
    (child, url, stdout_log, stderr_log)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            eprintln!("==== the raktar server at {} had already exited: {status} ====", self.url);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // Give the reader threads a moment to collect the last lines.
            thread::sleep(Duration::from_millis(100));
            eprintln!("==== raktar server at {} ====\n{}", self.url, self.logs());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// cargo
// ---------------------------------------------------------------------------------------------

/// How cargo gets the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `$CARGO_HOME/credentials.toml`
    CredentialsFile,
    /// `CARGO_REGISTRIES_RAKTAR_TOKEN`
    EnvVar,
}

static WORK_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary CARGO_HOME (config + credentials), target dir and work dir for the real cargo.
pub struct CargoEnv {
    root: tempfile::TempDir,
    index_url: String,
    token: Option<String>,
    source: TokenSource,
}

impl CargoEnv {
    /// A fresh, empty CARGO_HOME pointed at `server`, with `token` in credentials.toml.
    pub fn new(server: &TestServer, token: Option<&str>) -> Self {
        Self::with_source(server, token, TokenSource::CredentialsFile)
    }

    /// Same, with no token at all.
    pub fn anonymous(server: &TestServer) -> Self {
        Self::new(server, None)
    }

    pub fn with_source(server: &TestServer, token: Option<&str>, source: TokenSource) -> Self {
        let root = tempfile::Builder::new().prefix("raktar-e2e-cargo-").tempdir().expect("create cargo env dir");
        let env = CargoEnv { root, index_url: server.index_url(), token: token.map(str::to_string), source };
        std::fs::create_dir_all(env.home()).unwrap();
        std::fs::create_dir_all(env.work_root()).unwrap();
        let config = format!(
            "[registries.{REGISTRY}]\n\
             index = \"{}\"\n\
             \n\
             [registry]\n\
             global-credential-providers = [\"cargo:token\"]\n\
             \n\
             [net]\n\
             git-fetch-with-cli = false\n",
            env.index_url
        );
        std::fs::write(env.home().join("config.toml"), config).unwrap();
        env.write_credentials();
        env
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.path().join("target")
    }

    fn work_root(&self) -> PathBuf {
        self.root.path().join("work")
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Replaces (or removes) the token cargo uses from now on.
    pub fn set_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_string);
        self.write_credentials();
    }

    fn write_credentials(&self) {
        let path = self.home().join("credentials.toml");
        match (&self.token, self.source) {
            (Some(token), TokenSource::CredentialsFile) => {
                std::fs::write(&path, format!("[registries.{REGISTRY}]\ntoken = \"{token}\"\n")).unwrap();
            }
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// The `cargo` command with a clean environment (no CARGO_* leaking from the outer `cargo test`).
    pub fn command(&self, args: &[&str], cwd: &Path) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        for (key, _) in std::env::vars_os() {
            let key_str = key.to_string_lossy();
            if key_str.starts_with("CARGO") || key_str.starts_with("__CARGO") {
                cmd.env_remove(&key);
            }
        }
        cmd.args(args)
            .current_dir(cwd)
            .env("CARGO_HOME", self.home())
            .env("CARGO_TARGET_DIR", self.target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("CARGO_INCREMENTAL", "0");
        if let (Some(token), TokenSource::EnvVar) = (&self.token, self.source) {
            cmd.env("CARGO_REGISTRIES_RAKTAR_TOKEN", token);
        }
        cmd
    }

    /// Runs cargo (bounded by [`CARGO_TIMEOUT`]).
    pub fn cargo(&self, args: &[&str], cwd: &Path) -> CmdOutput {
        run_with_timeout(self.command(args, cwd), CARGO_TIMEOUT)
    }

    /// Runs cargo in the work dir (for commands that need no project: search, owner, yank, info).
    pub fn cargo_here(&self, args: &[&str]) -> CmdOutput {
        self.cargo(args, &self.work_root())
    }

    /// A fresh, unique directory in the work dir.
    pub fn fresh_dir(&self, hint: &str) -> PathBuf {
        let n = WORK_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = self.work_root().join(format!("{hint}-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Copies `fixtures/crates/{fixture}` into a fresh directory; returns the copy.
    pub fn copy_fixture(&self, fixture: &str) -> PathBuf {
        let dest = self.fresh_dir(fixture);
        copy_dir(&fixture_crate_dir(fixture), &dest);
        dest
    }

    /// Copies `fixtures/consumer` into a fresh directory; returns the copy.
    pub fn copy_consumer(&self) -> PathBuf {
        let dest = self.fresh_dir("consumer");
        copy_dir(&fixtures_dir().join("consumer"), &dest);
        dest
    }

    /// `cargo publish --registry raktar --no-verify --allow-dirty` of a fixture copy (not asserted).
    pub fn try_publish_fixture(&self, fixture: &str) -> CmdOutput {
        let dir = self.copy_fixture(fixture);
        self.cargo(&["publish", "--registry", REGISTRY, "--no-verify", "--allow-dirty"], &dir)
    }

    /// Publishes a fixture without verification and asserts success.
    #[track_caller]
    pub fn publish_fixture(&self, fixture: &str) -> CmdOutput {
        let out = self.try_publish_fixture(fixture);
        assert!(out.success(), "publishing fixture `{fixture}` failed:\n{out}");
        out
    }

    /// A library project `name` with the given `[dependencies]` body (e.g.
    /// `raktar-base = { version = "1", registry = "raktar" }`).
    pub fn project(&self, name: &str, dependencies: &str) -> PathBuf {
        let dir = self.fresh_dir(name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
                 [dependencies]\n{dependencies}\n\n[workspace]\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        dir
    }
}

/// Recursive copy of a directory tree (regular files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            copy_dir(&src, &dst);
        } else if ty.is_file() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The versions of `package` recorded in `{project}/Cargo.lock`.
pub fn locked_versions(project: &Path, package: &str) -> Vec<String> {
    let lock = std::fs::read_to_string(project.join("Cargo.lock"))
        .unwrap_or_else(|e| panic!("no Cargo.lock in {}: {e}", project.display()));
    let mut versions = Vec::new();
    for block in lock.split("[[package]]") {
        let mut name = None;
        let mut version = None;
        for line in block.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("name = ") {
                name = Some(v.trim_matches('"').to_string());
            } else if let Some(v) = line.strip_prefix("version = ") {
                version = Some(v.trim_matches('"').to_string());
            }
        }
        if name.as_deref() == Some(package) {
            versions.extend(version);
        }
    }
    versions
}

// ---------------------------------------------------------------------------------------------
// Index helpers
// ---------------------------------------------------------------------------------------------

/// The sparse index path of a crate (of its lowercased name): `1/a`, `2/ab`, `3/a/abc`,
/// `ca/rg/cargo`.
pub fn index_path(name: &str) -> String {
    let name = name.to_lowercase();
    match name.len() {
        0 => panic!("empty crate name"),
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `YYYY-MM-DDTHH:MM:SSZ` exactly.
pub fn is_cargo_pubtime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Lowercase 64-hex.
pub fn is_lower_hex_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// A response with its body read.
#[derive(Debug)]
pub struct HttpResponse {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response body is not JSON ({e}):\n{self}"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        self
    }

    /// Asserts a 4xx with a cargo error body `{"errors":[{"detail":"..."}]}`; returns the details
    /// joined by `"; "`.
    #[track_caller]
    pub fn assert_cargo_error(&self) -> String {
        assert!((400..500).contains(&self.status), "expected a 4xx cargo error:\n{self}");
        self.cargo_error_details()
    }

    /// The `errors[].detail` strings (panics unless the body has that shape).
    #[track_caller]
    pub fn cargo_error_details(&self) -> String {
        raktar_core::testkit::wire::cargo_error_details(&self.body).unwrap_or_else(|e| panic!("{e}:\n{self}"))
    }
}

impl fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} -> {}", self.method, self.url, self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {}", String::from_utf8_lossy(v.as_bytes()))?;
        }
        let text = self.text();
        if text.len() > 4000 {
            write!(f, "\n{}... ({} bytes)", &text[..4000], self.body.len())
        } else {
            write!(f, "\n{text}")
        }
    }
}

/// A blocking HTTP client (reqwest on a private tokio runtime) for one server.
pub struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Http { rt, client, base: base.trim_end_matches('/').to_string() }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// `path` absolute (`http://...`) or relative to the server (`/index/config.json`).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    /// One request; `token` goes raw into `Authorization` (cargo style, no `Bearer`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> HttpResponse {
        let url = self.url(path);
        let fut = send(&self.client, method, &url, token, headers, body);
        self.rt.block_on(fut)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        self.request("GET", path, token, &[], None)
    }

    /// GET with cargo's index headers (`cargo-protocol`, `accept: text/plain`) plus `extra`.
    pub fn get_index(&self, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> HttpResponse {
        let mut headers = vec![("cargo-protocol", "version=1"), ("accept", "text/plain")];
        headers.extend_from_slice(extra);
        self.request("GET", &format!("/index/{path}"), token, &headers, None)
    }

    /// The crate's index file, parsed line by line; asserts 200, `\n`-terminated compact lines.
    #[track_caller]
    pub fn index_lines(&self, name: &str, token: Option<&str>) -> Vec<serde_json::Value> {
        let resp = self.get_index(&index_path(name), token, &[]);
        resp.assert_status(200);
        parse_index_file(&resp)
    }

    /// `config.json`, asserting 200.
    #[track_caller]
    pub fn index_config(&self, token: Option<&str>) -> serde_json::Value {
        let resp = self.get_index("config.json", token, &[]);
        resp.assert_status(200);
        resp.json()
    }

    /// `PUT /api/v1/crates/new` with a framed body (no Content-Type, like cargo).
    pub fn put_crate(&self, body: Vec<u8>, token: Option<&str>) -> HttpResponse {
        self.request("PUT", "/api/v1/crates/new", token, &[("accept", "application/json")], Some(body))
    }

    /// The download URL of a version, following config.json's `dl` template.
    #[track_caller]
    pub fn download_url(&self, token: Option<&str>, name: &str, vers: &str, cksum: &str) -> String {
        let config = self.index_config(token);
        let dl =
            config["dl"].as_str().unwrap_or_else(|| panic!("config.json has no string `dl`: {config}")).to_string();
        dl_url(&dl, name, vers, cksum)
    }
}

/// A `kB` field of `/proc/PID/status` (Linux).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Expands cargo's `dl` template markers (or appends `/{crate}/{version}/download`).
pub fn dl_url(dl: &str, name: &str, vers: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = ["{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"];
    if !MARKERS.iter().any(|m| dl.contains(m)) {
        return format!("{}/{name}/{vers}/download", dl.trim_end_matches('/'));
    }
    let prefix = match name.len() {
        1 => "1".to_string(),
        2 => "2".to_string(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    };
    dl.replace("{crate}", name)
        .replace("{version}", vers)
        .replace("{lowerprefix}", &prefix.to_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
}

/// Parses an index file body into JSON lines, asserting the framing cargo expects.
#[track_caller]
pub fn parse_index_file(resp: &HttpResponse) -> Vec<serde_json::Value> {
    let text = resp.text();
    assert!(text.ends_with('\n'), "an index file must end with a newline:\n{resp}");
    text.lines()
        .map(|line| {
            assert!(
                !line.starts_with(' ') && line.starts_with('{') && line.ends_with('}'),
                "each index line must be one compact JSON object: {line:?}\n{resp}"
            );
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("index line is not JSON ({e}): {line:?}"));
            assert!(v.is_object(), "index line is not an object: {line:?}");
            v
        })
        .collect()
}

/// Sends one request (async; used by [`Http`] and by the concurrency tests).
pub async fn send(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> HttpResponse {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(m, url);
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url} failed: {e} ({e:?})"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}")).to_vec();
    if let Some(location) = s3_download_redirect(method, status, &headers) {
        // The AWS home answers a download with a redirect to a presigned S3 URL. Cargo follows
        // it, without the token (another host); so does the harness, after checking the redirect,
        // and the download assertions then hold on both homes. `url` becomes the final URL.
        assert!(
            location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires="),
            "{method} {url}: a download redirect must go to a presigned URL, got {location}"
        );
        let resp = client
            .get(&location)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {location} (redirected from {url}): {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body =
            resp.bytes().await.unwrap_or_else(|e| panic!("GET {location}: reading the body failed: {e}")).to_vec();
        return HttpResponse { method: method.to_string(), url: location, status, headers, body };
    }
    HttpResponse { method: method.to_string(), url: url.to_string(), status, headers, body }
}

/// The presigned S3 URL of a download redirect on the AWS home (a 302/307 to the test endpoint).
fn s3_download_redirect(method: &str, status: u16, headers: &reqwest::header::HeaderMap) -> Option<String> {
    if method != "GET" || !matches!(status, 302 | 307) || !aws::aws_home_requested() {
        return None;
    }
    let location = headers.get("location")?.to_str().ok()?;
    location.starts_with(&format!("{}/", aws::endpoint())).then(|| location.to_string())
}

/// Creates a fresh table and bucket on moto with the admin CLI (`raktar aws create-table`,
/// `raktar aws create-bucket`).
pub fn create_aws_home() -> aws::AwsHome {
    let home = aws::AwsHome::fresh();
    for args in [["aws", "create-table", "--table", &home.table], ["aws", "create-bucket", "--bucket", &home.bucket]] {
        let mut cmd = raktar_command();
        home.apply(&mut cmd);
        cmd.args(args);
        run_with_timeout(cmd, CLI_TIMEOUT).assert_success();
    }
    home
}
