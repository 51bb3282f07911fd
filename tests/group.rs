//! Several services in one process (`Services`): one signal stops them all gracefully, a
//! second exits at once, and a service that stops by itself (a failed task) stops the others.
//!
//! The process tests re-execute this test binary with `--exact child_group`; that test does
//! nothing unless `EXPERIMANCE_TEST_CHILD` is set (to the mode), in which case it runs a group
//! of two services with `Services::run` and prints their endpoints and how `run` returned.

mod common;

use std::sync::Arc;

use common::child::{self, Kid};
use common::{split, text, Raw, ANY_PORT};
use experimance::{handlers, service, Context, Error, Role, Runner, Services, State};
use tokio::sync::Notify;

const CHILD_ENV: &str = "EXPERIMANCE_TEST_CHILD";

/// The first service of the group.
#[service(
    name = "GroupFirst",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "first.hb",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct First {
    /// Whether a background task fails, once the second service has started.
    fail: bool,
    second_started: Arc<Notify>,
}

#[handlers]
impl First {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        println!(
            "ENDPOINT {} {}",
            ctx.name(),
            ctx.endpoint(Role::Pub).unwrap()
        );
        if self.fail {
            let second_started = Arc::clone(&self.second_started);
            ctx.spawn("doomed", async move {
                second_started.notified().await;
                Err::<(), _>("failed on purpose")
            });
        }
    }

    #[on_stop]
    async fn stopping(&mut self, ctx: &Context<Self>) {
        println!("ON_STOP {}", ctx.name());
    }
}

/// The second service of the group, of another type.
#[service(
    name = "GroupSecond",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "second.hb",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct Second {
    /// Whether `on_stop` hangs, so that only a second signal can end the process.
    hang_on_stop: bool,
    /// Whether `on_start` fails.
    fail_start: bool,
    started: Arc<Notify>,
}

#[handlers]
impl Second {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        if self.fail_start {
            return Err("cannot start, on purpose".into());
        }
        println!(
            "ENDPOINT {} {}",
            ctx.name(),
            ctx.endpoint(Role::Pub).unwrap()
        );
        self.started.notify_one();
        Ok(())
    }

    #[on_stop]
    async fn stopping(&mut self, ctx: &Context<Self>) {
        println!("ON_STOP {}", ctx.name());
        if self.hang_on_stop {
            std::future::pending::<()>().await;
        }
    }
}

/// The two runners: `GroupFirst` then `GroupSecond`, on ports the system chooses.
fn runners(fail: bool, hang_on_stop: bool, fail_start: bool) -> (Runner<First>, Runner<Second>) {
    let started = Arc::new(Notify::new());
    let first = First {
        fail,
        second_started: Arc::clone(&started),
    };
    let second = Second {
        hang_on_stop,
        fail_start,
        started,
    };
    (
        Runner::new(first).with_address(Role::Pub, ANY_PORT),
        Runner::new(second).with_address(Role::Pub, ANY_PORT),
    )
}

/// The child: runs the group until a signal or a failure, then says how `run` returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_group() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (first, second) = runners(mode == "failing", mode == "hanging", false);
    let result = Services::new().with(first).with(second).run().await;
    println!("RUN RETURNED {result:?}");
}

fn spawn_child(mode: &str) -> Kid {
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, "child_group");
    command.env(CHILD_ENV, mode);
    Kid::start(command, mode)
}

/// Reads the two `ENDPOINT` lines: `(GroupFirst's, GroupSecond's)`.
async fn endpoints(child: &mut Kid) -> (String, String) {
    let mut found = (None, None);
    while found.0.is_none() || found.1.is_none() {
        let line = child.line("ENDPOINT ").await;
        let (name, endpoint) = line.split_once(' ').expect("ENDPOINT name endpoint");
        match name {
            "GroupFirst" => found.0 = Some(endpoint.to_owned()),
            "GroupSecond" => found.1 = Some(endpoint.to_owned()),
            other => panic!("unknown service {other}"),
        }
    }
    (found.0.unwrap(), found.1.unwrap())
}

/// Waits for a heartbeat on `raw` whose state is `state`, skipping `running` ones.
async fn heartbeat(raw: &mut Raw, topic: &str, state: &str) {
    loop {
        let frame = raw.recv().await;
        let (t, body) = split(&frame);
        assert_eq!(t, topic);
        match body["state"].as_str() {
            Some(s) if s == state => return,
            Some("running") => continue,
            _ => panic!("unexpected heartbeat {}", text(&frame)),
        }
    }
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` line; the child printed {lines:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signal_stops_every_service_of_the_group() {
    let mut child = spawn_child("graceful");
    let (first, second) = endpoints(&mut child).await;
    let mut first_hb = Raw::sub(&first, &["first.hb"]);
    let mut second_hb = Raw::sub(&second, &["second.hb"]);
    // A `running` heartbeat from each: both run, and both subscriptions are live.
    heartbeat(&mut first_hb, "first.hb", "running").await;
    heartbeat(&mut second_hb, "second.hb", "running").await;

    child.signal("TERM");

    // Each says goodbye with a last `stopping` heartbeat.
    heartbeat(&mut first_hb, "first.hb", "stopping").await;
    heartbeat(&mut second_hb, "second.hb", "stopping").await;
    let (status, lines) = child.wait().await;
    assert_eq!(status.code(), Some(0), "child printed {lines:#?}");
    // Stopped in the reverse order of their start.
    assert!(position(&lines, "ON_STOP GroupSecond") < position(&lines, "ON_STOP GroupFirst"));
    position(&lines, "RUN RETURNED Ok(())");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_the_group_at_once() {
    let mut child = spawn_child("hanging");
    endpoints(&mut child).await;
    child.signal("TERM");
    // GroupSecond stops first, and hangs in `on_stop`: only a second signal ends the process.
    child.line("ON_STOP GroupSecond").await;
    child.signal("TERM");
    let (status, lines) = child.wait().await;
    assert_eq!(status.code(), Some(130), "child printed {lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("RUN RETURNED")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("ON_STOP GroupFirst")),
        "{lines:#?}"
    );
}

/// `run`, with no signal: GroupFirst's task fails once GroupSecond runs, which stops
/// GroupFirst, and the group stops GroupSecond; `run` returns the task's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_stops_the_others_and_run_returns_its_error() {
    let mut child = spawn_child("failing");
    endpoints(&mut child).await;
    let (status, lines) = child.wait().await;
    assert_eq!(status.code(), Some(0), "child printed {lines:#?}");
    position(&lines, "ON_STOP GroupFirst");
    position(&lines, "ON_STOP GroupSecond");
    let returned = &lines[position(&lines, "RUN RETURNED")];
    assert!(
        returned.contains("Err(TaskFailed")
            && returned.contains("GroupFirst")
            && returned.contains("doomed"),
        "{returned}"
    );
}

/// The same without signals, in this process: `start` then `wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_stops_the_others_when_one_fails() {
    let (first, second) = runners(true, false, false);
    let (first, second) = (Arc::new(first), Arc::new(second));
    let services = Services::new()
        .with_shared(Arc::clone(&first))
        .with_shared(Arc::clone(&second));
    assert_eq!(services.names(), ["GroupFirst", "GroupSecond"]);
    // A group can be shared with, and run on, another task.
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    send_and_sync(&services);
    send(&services.run());
    services.start().await.expect("start");
    match services.wait().await {
        Err(Error::TaskFailed { service, task, .. }) => {
            assert_eq!((service.as_str(), task.as_str()), ("GroupFirst", "doomed"));
        }
        other => panic!("expected the failed task, got {other:?}"),
    }
    assert_eq!(
        (first.state(), second.state()),
        (State::Stopped, State::Stopped)
    );
    // Stopping a stopped group does nothing.
    services.stop().await;
}

/// A service that cannot start stops those started before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_stops_those_already_started() {
    let (first, second) = runners(false, false, true);
    let first = Arc::new(first);
    let services = Services::new().with_shared(Arc::clone(&first)).with(second);
    match services.start().await {
        Err(Error::StartHook { service, .. }) => assert_eq!(service, "GroupSecond"),
        other => panic!("expected the failed start, got {other:?}"),
    }
    assert_eq!(first.state(), State::Stopped);
}
