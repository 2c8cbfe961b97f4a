//! Child processes that must never outlive the bench, and readers for `/proc`.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Process groups of the services that are still running; killed by the signal handler.
static LIVE_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Set once Ctrl-C or SIGTERM arrived.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn live_groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to every process of group `pgid`.
fn signal_group(pgid: u32, signal: &str) {
    // `kill -SIG -- -PGID` (procps) signals the whole group: nginx workers included.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills every registered service group at once. Used on Ctrl-C / SIGTERM, where destructors do
/// not run.
pub fn kill_all_services() {
    let groups: Vec<u32> = live_groups().drain(..).collect();
    for pgid in &groups {
        signal_group(*pgid, "TERM");
    }
    if !groups.is_empty() {
        thread::sleep(Duration::from_millis(500));
    }
    for pgid in &groups {
        signal_group(*pgid, "KILL");
    }
}

/// A long-running child (raktar, nginx) in its own process group. Dropping it stops the whole
/// group: SIGTERM, up to 5 s grace, then SIGKILL.
pub struct Service {
    name: String,
    child: Child,
    pid: u32,
    stopped: bool,
}

impl Service {
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        command.process_group(0);
        let child = command.spawn().with_context(|| format!("starting {name} ({command:?})"))?;
        let pid = child.id();
        live_groups().push(pid);
        Ok(Self { name: name.to_owned(), child, pid, stopped: false })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` if the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        live_groups().retain(|g| *g != self.pid);
        if self.exited().is_none() {
            signal_group(self.pid, "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.exited().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if self.exited().is_none() {
                eprintln!("bench: {} did not stop on SIGTERM; killing it", self.name);
            }
        }
        // Workers or helpers left in the group (or a stuck leader) are killed unconditionally.
        signal_group(self.pid, "KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a short command to completion, returning stdout; an error carries stderr.
pub fn run_captured(mut command: Command, what: &str) -> Result<String> {
    let output = command.stdin(Stdio::null()).output().with_context(|| format!("running {what} ({command:?})"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{what}: stdout is not UTF-8"))
}

/// Runs a command with a time limit (the child is killed when it is exceeded). Returns the
/// elapsed wall time and the captured stdout/stderr.
pub fn run_timed(
    mut command: Command,
    what: &str,
    limit: Duration,
    scratch: &Path,
) -> Result<(Duration, String, String)> {
    let out_path = scratch.join("stdout.txt");
    let err_path = scratch.join("stderr.txt");
    let out = fs::File::create(&out_path).with_context(|| format!("creating {out_path:?}"))?;
    let err = fs::File::create(&err_path).with_context(|| format!("creating {err_path:?}"))?;
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let start = Instant::now();
    let mut child = command.spawn().with_context(|| format!("running {what} ({command:?})"))?;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    if !status.success() {
        bail!("{what} failed ({status}):\n{stdout}{stderr}");
    }
    Ok((elapsed, stdout, stderr))
}

/// Finds an executable on PATH (and in the sbin directories, where nginx lives).
pub fn find_exe(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Fields of `/proc/PID/stat` after the command name: index 0 is the state (field 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of one process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Pids of every process in group `pgid`.
pub fn group_pids(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).and_then(|f| f.get(2)?.parse::<u32>().ok()).is_some_and(|g| g == pgid))
        .collect()
}

/// CPU ticks of a whole process group.
pub fn group_cpu_ticks(pgid: u32) -> u64 {
    group_pids(pgid).into_iter().filter_map(cpu_ticks).sum()
}

/// RSS of a whole process group, in bytes.
pub fn group_rss(pgid: u32) -> u64 {
    group_pids(pgid).into_iter().filter_map(|p| status_bytes(p, "VmRSS")).sum()
}

/// Voluntary + involuntary context switches of every thread of every process in group `pgid`
/// (threads that have already exited are not counted).
pub fn group_context_switches(pgid: u32) -> u64 {
    let mut total = 0;
    for pid in group_pids(pgid) {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.filter_map(|t| t.ok()) {
            let Ok(status) = fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    total
}

/// Threads of all processes in group `pgid`.
pub fn group_threads(pgid: u32) -> u64 {
    group_pids(pgid)
        .into_iter()
        .filter_map(|p| {
            let status = fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            status.lines().find_map(|l| l.strip_prefix("Threads:")?.trim().parse::<u64>().ok())
        })
        .sum()
}

/// (busy, total) jiffies over all CPUs from `/proc/stat`.
pub fn system_cpu() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Last `n` lines of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
