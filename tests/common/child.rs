//! Child processes, shared by every support module of the integration tests: a parent test
//! re-executes this test binary as `<prefix...> <exe> --exact <child test> --nocapture`, with
//! an environment variable that tells the child test to run (the child tests do nothing
//! without it), and reads the lines the child prints on stdout. Dropping a [`Kid`] kills the
//! process (SIGKILL) if it still runs. Every wait ends on a line or an exit; timeouts are only
//! safety nets.
//!
//! The including module provides `SAFETY` (the safety net of every wait, which differs
//! between the test suites), so this file is included as a submodule of `common`,
//! `reliability_support` and `liveness_support` alike (the latter two with `#[path]`).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::SAFETY;

/// `prefix... <this test binary> --exact <test> --nocapture --test-threads=1` with stdout
/// piped; the caller adds the environment (and a piped stdin if the child reads one), then
/// hands it to [`Kid::start`].
pub fn command<P: AsRef<OsStr>>(prefix: &[P], test: &str) -> Command {
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
        .stdout(Stdio::piped());
    command
}

/// A child process: a copy of this test binary running one child test, with the lines it
/// prints.
pub struct Kid {
    /// `None` once waited for.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// For messages: `name (pid N)`.
    pub label: String,
}

impl Kid {
    /// Spawns `command` (from [`command`]) and reads its stdout lines on a thread.
    pub fn start(mut command: Command, name: &str) -> Kid {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn child {name}: {e}"));
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
        let label = format!("{name} (pid {})", child.id());
        Kid {
            child: Some(child),
            stdin,
            lines,
            seen: Vec::new(),
            label,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child not waited for").id()
    }

    /// The next line, if one comes within `wait`; `None` also when stdout closed.
    pub async fn next_line_within(&mut self, wait: Duration) -> Option<String> {
        let line = tokio::time::timeout(wait, self.lines.recv())
            .await
            .ok()
            .flatten()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// The next line holding `marker`, as what follows the marker (trimmed); other lines are
    /// skipped (the first line also carries libtest's `test child_x ... ` without a newline,
    /// so the marker is searched, not anchored). `None` if the child's stdout closed or
    /// nothing came before `deadline`.
    pub async fn next(&mut self, marker: &str, deadline: Instant) -> Option<String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line_within(left).await?;
            if let Some(at) = line.find(marker) {
                return Some(line[at + marker.len()..].trim().to_owned());
            }
        }
    }

    /// Like [`Kid::next`] within `SAFETY`; panics with what the child printed otherwise.
    pub async fn line(&mut self, marker: &str) -> String {
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

    /// Closes the child's stdin: a child that reads it to its end goes on.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `kill -<name>` to the child.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.label);
    }

    /// Waits for the child to exit (SIGKILL and panic after `SAFETY`); returns its status
    /// and everything it printed.
    pub async fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("child not waited for");
        let pid = child.id();
        let waited =
            tokio::time::timeout(SAFETY, tokio::task::spawn_blocking(move || child.wait())).await;
        let status = match waited {
            Ok(status) => status.expect("wait task").expect("wait for child"),
            Err(_) => {
                // The safety net: a child that does not exit is killed, and the test fails.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!(
                    "child {} did not exit; it printed {:?}",
                    self.label, self.seen
                );
            }
        };
        // Stdout closes when the child exits: collect the rest of what it printed.
        while self.next_line_within(SAFETY).await.is_some() {}
        (status, std::mem::take(&mut self.seen))
    }

    /// SIGKILLs the child and waits until it is gone (the kernel has closed its sockets by
    /// then).
    pub async fn kill(self) -> ExitStatus {
        self.signal("KILL");
        self.wait().await.0
    }
}

impl Drop for Kid {
    /// A failing test does not leave its child running.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// In a child: the lines of stdin, in a channel. When stdin closes (the parent is gone or
/// dropped its handle) the child exits with `exit_code`, so no child outlives its test.
pub fn stdin_lines(exit_code: i32) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
        std::process::exit(exit_code);
    });
    rx
}

/// In a child: prints one line to the parent, flushed.
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
