//! Signals (issue 2): SIGTERM or SIGINT stops a service run with `Runner::run` gracefully
//! (exit code 0, a last `stopping` heartbeat); a second signal exits at once.
//!
//! The parent tests re-execute this test binary with `--exact <child test>`; the child test
//! does nothing unless `EXPERIMANCE_TEST_CHILD` is set, in which case it runs a service and
//! prints its endpoint.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{split, text, Raw, ANY_PORT, SAFETY};
use experimance::{handlers, service, Context, Role, Runner};
use tokio::sync::mpsc;

const CHILD_ENV: &str = "EXPERIMANCE_TEST_CHILD";

#[service(
    name = "SignalChild",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "signal.hb",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct SignalChild {
    /// Whether `on_stop` hangs, so that only a second signal can end the process.
    hang_on_stop: bool,
}

#[handlers]
impl SignalChild {
    /// Runs inside `run()`, after it installed its signal handlers: printing the endpoint
    /// here means a signal sent after reading it is handled by the service.
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        println!(
            "ENDPOINT {}",
            ctx.endpoint(Role::Pub).expect("pub endpoint")
        );
    }

    #[on_stop]
    async fn stopping(&mut self) {
        println!("ON_STOP");
        if self.hang_on_stop {
            std::future::pending::<()>().await;
        }
    }
}

/// The child: runs the service until a signal, then reports how `run` returned.
async fn child(hang_on_stop: bool) {
    let runner = Runner::new(SignalChild { hang_on_stop }).with_address(Role::Pub, ANY_PORT);
    let result = runner.run().await;
    println!("RUN RETURNED {result:?}");
    result.expect("run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_graceful() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child(false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_hanging_stop() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child(true).await;
    }
}

/// A child process and the lines it prints.
struct Spawned {
    /// `None` once waited for.
    child: Option<Child>,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

fn spawn_child(test: &str) -> Spawned {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child test");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Spawned {
        child: Some(child),
        lines,
        seen: Vec::new(),
    }
}

impl Spawned {
    /// Waits for a line holding `prefix` and returns what follows it (libtest may print
    /// `test <name> ... ` on the same line, before the child's own output).
    async fn line(&mut self, prefix: &str) -> String {
        loop {
            let line = tokio::time::timeout(SAFETY, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no `{prefix}` line; child printed {:?}", self.seen))
                .unwrap_or_else(|| {
                    panic!(
                        "child closed stdout before `{prefix}`; it printed {:?}",
                        self.seen
                    )
                });
            self.seen.push(line.clone());
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].to_owned();
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("child not waited for").id()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit; returns its exit code and everything it printed.
    async fn exit_code(mut self) -> (Option<i32>, Vec<String>) {
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
                panic!("the child did not exit; it printed {:?}", self.seen);
            }
        };
        // Stdout closes when the child exits: collect the rest of what it printed.
        while let Some(line) = self.lines.recv().await {
            self.seen.push(line);
        }
        (status.code(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Spawned {
    /// A failing test does not leave its child running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn graceful_stop_on(signal: &str) {
    let mut child = spawn_child("child_graceful");
    let endpoint = child.line("ENDPOINT ").await.trim().to_owned();

    // A `running` heartbeat shows the service runs and the subscription is live.
    let mut raw = Raw::sub(&endpoint, &["signal.hb"]);
    let (_, heartbeat) = split(&raw.recv().await);
    assert_eq!(heartbeat["state"], "running");

    child.signal(signal);

    // The last heartbeat says `stopping`.
    loop {
        let frame = raw.recv().await;
        let (topic, body) = split(&frame);
        assert_eq!(topic, "signal.hb");
        match body["state"].as_str() {
            Some("running") => continue,
            Some("stopping") => break,
            _ => panic!("unexpected heartbeat {}", text(&frame)),
        }
    }
    let (code, lines) = child.exit_code().await;
    assert_eq!(
        code,
        Some(0),
        "graceful stop exits 0; child printed {lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("ON_STOP")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("RUN RETURNED Ok(())")),
        "run() returned Ok; child printed {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_with_exit_code_0() {
    graceful_stop_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_gracefully_with_exit_code_0() {
    graceful_stop_on("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_exits_at_once() {
    let mut child = spawn_child("child_hanging_stop");
    child.line("ENDPOINT ").await;
    child.signal("TERM");
    // The stop has begun and hangs in `on_stop`: only the second signal can end it.
    child.line("ON_STOP").await;
    child.signal("TERM");
    let (code, lines) = child.exit_code().await;
    assert_eq!(
        code,
        Some(130),
        "second signal exits at once; child printed {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("RUN RETURNED")),
        "{lines:?}"
    );
}
