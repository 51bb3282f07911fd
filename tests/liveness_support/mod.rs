//! Helpers of the peer-liveness tests (`tests/liveness.rs`, `tests/netns.rs`): child
//! processes re-executed from the test binary, and the lines they print.
//!
//! A parent test runs `<this test binary> --exact <child test> --nocapture` (optionally behind
//! a prefix such as `ip netns exec ns1`) with [`CHILD_ENV`] set to the child's mode; the child
//! tests do nothing without it. A child prints `MARKER payload` lines on stdout and exits
//! when its stdin closes, so no child outlives its parent. Every wait ends on a line;
//! timeouts are only safety nets.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The safety net of every wait; a test that reaches one has failed.
pub const SAFETY: Duration = Duration::from_secs(20);

/// Set (to the child's mode) in the environment of a re-executed test binary.
pub const CHILD_ENV: &str = "EXPERIMANCE_LIVENESS_CHILD";

/// The address a child binds or connects to.
pub const ADDRESS_ENV: &str = "EXPERIMANCE_LIVENESS_ADDRESS";

/// In a child test: whether this process was started as a child in `mode`.
pub fn is_child(mode: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|m| m == mode)
}

/// In a child: the address its parent gave it.
pub fn child_address() -> String {
    std::env::var(ADDRESS_ENV).expect("the parent gives a child its address")
}

/// In a child: prints `marker payload` on one line, flushed.
pub fn say(marker: &str, payload: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{marker} {payload}");
    let _ = out.flush();
}

/// In a child: the lines of stdin, in a channel. When stdin closes (the parent is gone or
/// dropped its handle) the child exits at once.
pub fn child_stdin() -> mpsc::UnboundedReceiver<String> {
    if std::env::var_os("RUST_LOG").is_some() {
        experimance::init_logging();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
        std::process::exit(0);
    });
    rx
}

/// A child process: a copy of this test binary running one child test.
/// Dropping it kills the process (SIGKILL) if it still runs.
pub struct Kid {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// For messages.
    pub label: String,
}

impl Kid {
    /// Runs `prefix... <current exe> --exact <test> --nocapture` with [`CHILD_ENV`] = `mode`
    /// and [`ADDRESS_ENV`] = `address`.
    pub fn spawn<P: AsRef<OsStr>>(prefix: &[P], test: &str, mode: &str, address: &str) -> Kid {
        let exe = std::env::current_exe().expect("current exe");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, mode)
            .env(ADDRESS_ENV, address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn child {mode}: {e}"));
        let stdout = child.stdout.take().expect("child stdout");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let label = format!("{mode} (pid {})", child.id());
        Kid {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            label,
        }
    }

    /// The next line holding `marker`, as what follows the marker; other lines are skipped
    /// (the first line also carries libtest's `test child_x ... ` without a newline, so the
    /// marker is searched, not anchored). `None` if the child's stdout closed or nothing
    /// came before `deadline`.
    pub async fn next(&mut self, marker: &str, deadline: Instant) -> Option<String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.lines.recv())
                .await
                .ok()
                .flatten()?;
            self.seen.push(line.clone());
            if let Some(at) = line.find(marker) {
                return Some(line[at + marker.len()..].trim().to_owned());
            }
        }
    }

    /// Like [`Kid::next`] within [`SAFETY`]; panics with what the child printed otherwise.
    pub async fn expect(&mut self, marker: &str) -> String {
        match self.next(marker, Instant::now() + SAFETY).await {
            Some(rest) => rest,
            None => panic!(
                "no `{marker}` line from child {} within {SAFETY:?}; it printed {:#?}",
                self.label, self.seen
            ),
        }
    }

    /// Writes one line to the child's stdin.
    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("child stdin");
        writeln!(stdin, "{line}").expect("write to child");
        stdin.flush().expect("flush child stdin");
    }

    /// Kills the child with SIGKILL (`Child::kill`) and reaps it: when this returns the
    /// process is gone and the kernel has closed its sockets.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the child");
        self.child.wait().expect("reap the child");
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
