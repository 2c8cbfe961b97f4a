//! Admin commands run while the server runs (the documented way to manage users and tokens on the
//! embedded home): other processes open the same SQLite database while the server works. That is
//! safe only while the server holds SQLite's shared lock on the WAL index (`raktar.db-shm`): a
//! process that closes ANY descriptor of that file drops all its POSIX locks on it; an admin
//! command then believes it is alone, resets the WAL index, and the server died of SIGBUS at its
//! next query (found by the publish corpus, which snapshots the database between requests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::TestServer;
use common::publish::PublishRequest;

/// The process holding a read lock on the "DMS" byte of the `-shm` file (SQLite's unix VFS:
/// byte 128 is held shared by every process with the database open), asked with `F_GETLK` from
/// another process (python3, which the test suite needs anyway).
fn dms_lock_holder(shm: &std::path::Path) -> Option<u32> {
    let script = r#"
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
# struct flock: l_type, l_whence, l_start, l_len, l_pid (x86_64 / aarch64 Linux layout)
req = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 128, 1, 0)
res = fcntl.fcntl(fd, fcntl.F_GETLK, req)
l_type, _, _, _, pid = struct.unpack("hhqqi4x", res)
print(pid if l_type != fcntl.F_UNLCK else 0)
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(shm).output().expect("python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (pid != 0).then_some(pid)
}

#[test]
fn the_server_keeps_sqlite_locks_while_admin_commands_run() {
    if common::aws::aws_home_requested() {
        return; // No SQLite file on the AWS home.
    }
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let http = server.http();
    let shm = server.data_dir().join("raktar.db-shm");
    for round in 0..4 {
        // A write, then a read after the change watch's one-second safety check is due: the watch
        // notices the change and looks at the `-shm` file again.
        http.put_crate(PublishRequest::new("busy", &format!("1.0.{round}")).body(), Some(&token)).assert_status(200);
        std::thread::sleep(Duration::from_millis(1100));
        http.get_index("bu/sy/busy", Some(&token), &[]).assert_status(200);
        assert_eq!(
            dms_lock_holder(&shm),
            Some(server.pid()),
            "round {round}: the server must hold SQLite's shared lock on {}",
            shm.display()
        );
        // Another process opens the database while the server works.
        server.cli_ok(&["token", "list", "--user", "alice"]);
        http.put_crate(PublishRequest::new("busy", &format!("2.0.{round}")).body(), Some(&token)).assert_status(200);
    }
    assert_eq!(http.index_lines("busy", Some(&token)).len(), 8, "{}", server.logs());
}
