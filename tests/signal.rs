//! Signals (issue 2): SIGTERM or SIGINT stops a service run with `Runner::run` gracefully
//! (exit code 0, a last `stopping` heartbeat); a second signal exits at once.
//!
//! The parent tests re-execute this test binary with `--exact <child test>`; the child test
//! does nothing unless `EXPERIMANCE_TEST_CHILD` is set, in which case it runs a service and
//! prints its endpoint.

mod common;

use common::child::{self, Kid};
use common::{split, text, Raw, ANY_PORT};
use experimance::{handlers, service, Context, Role, Runner};

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

/// Runs `--exact <test>` of this binary with [`CHILD_ENV`] set (its stdin is not piped: the
/// child reads none).
fn spawn_child(test: &str) -> Kid {
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, test);
    command.env(CHILD_ENV, "1");
    Kid::start(command, test)
}

/// Waits for the process to exit; returns its exit code and everything it printed.
async fn exit_code(child: Kid) -> (Option<i32>, Vec<String>) {
    let (status, lines) = child.wait().await;
    (status.code(), lines)
}

async fn graceful_stop_on(signal: &str) {
    let mut child = spawn_child("child_graceful");
    let endpoint = child.line("ENDPOINT ").await;

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
    let (code, lines) = exit_code(child).await;
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
    let (code, lines) = exit_code(child).await;
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
