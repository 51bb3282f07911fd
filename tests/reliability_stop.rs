//! Bounded stops (issue 10): after a stop is asked, the handler, timer or hook in hand may run
//! until the drain deadline (the request + `drain_timeout`); one still running then is
//! dropped, counted in `errors` and named in a warn line, and the process exits 0 with its
//! final stats logged, within `drain_timeout` + 2 s. SIGHUP stops as gracefully as SIGTERM.
//!
//! Every test runs a child process (this test binary re-executed as `--exact child_stopper
//! --nocapture` with `EXPERIMANCE_RELIABILITY_CHILD` set to its mode; the child test does
//! nothing without it) with `drain_timeout = "1s"` and its log lines on stdout, and sends it
//! one signal.

mod reliability_support;

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Error, Role, Runner, Service, Status};
use reliability_support::{
    child_arg, child_mode, child_stdin, field, log_to_stdout, say, spawn_logging_child, Kid, Raw,
    ANY_PORT, SAFETY,
};
use serde_json::{json, Value};

/// The bound of every stop, from the signal to the exit: `drain_timeout` (1 s) + the
/// documented 2 s + 3 s of slack for a loaded machine.
const STOP_BOUND: Duration = Duration::from_secs(6);

/// The warn line of a call dropped at the deadline.
const CANCELLED: &str = "still running at the stop's deadline; cancelled";

// ---------------------------------------------------------------------------------------------
// The child services
// ---------------------------------------------------------------------------------------------

/// Its PUSH binds and nobody connects; its send queue holds one message and a push waits an
/// hour for room: a task handler soon waits in `push`.
#[service(
    name = "BlockedWorker",
    pull = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    send_queue = 1,
    send_timeout = "1h",
    drain_timeout = "1s",
    stats_interval = "off"
)]
struct BlockedWorker;

#[handlers]
impl BlockedWorker {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        report_full_queue(ctx);
        say(format_args!(
            "ENDPOINT {}",
            ctx.endpoint(Role::Pull).expect("pull endpoint")
        ));
    }

    #[task]
    async fn task(&mut self, task: Value, ctx: &Context<Self>) -> Result<(), Error> {
        say(format_args!("HANDLING {}", task["i"]));
        ctx.push(&task).await
    }
}

/// Its `nap` handler sleeps for an hour.
#[service(
    name = "Sleeper",
    sub = "inproc://overridden-by-the-test",
    topics = ["nap"],
    drain_timeout = "1s",
    stats_interval = "off"
)]
struct Sleeper;

#[handlers]
impl Sleeper {
    #[topic("nap")]
    async fn nap(&mut self, _msg: Value) {
        say("NAPPING");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Its timer pushes every 20 ms; its PUSH binds and nobody connects, its send queue holds one
/// message and a push waits an hour for room: a tick soon waits in `push`.
#[service(
    name = "BlockedTimer",
    push = "inproc://overridden-by-the-test",
    send_queue = 1,
    send_timeout = "1h",
    drain_timeout = "1s",
    stats_interval = "off"
)]
struct BlockedTimer {
    ticks: u64,
}

#[handlers]
impl BlockedTimer {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        report_full_queue(ctx);
    }

    #[every("20ms")]
    async fn feed(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        self.ticks += 1;
        say(format_args!("TICK {}", self.ticks));
        ctx.push(&json!({ "tick": self.ticks })).await
    }
}

/// Publishes heartbeats every 50 ms; nothing else.
#[service(
    name = "HangupChild",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "hangup.heartbeat",
    heartbeat_interval = "50ms",
    drain_timeout = "1s",
    stats_interval = "off"
)]
struct HangupChild;

#[handlers]
impl HangupChild {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        say(format_args!(
            "ENDPOINT {}",
            ctx.endpoint(Role::Pub).expect("pub endpoint")
        ));
    }
}

/// In a child: prints `QUEUE FULL` once the service's health is `warning`, which a push sets
/// when it finds the send queue full, before it waits for room (nothing else makes these
/// services' health `warning`). Polls the health every millisecond.
fn report_full_queue<S: Service>(ctx: &Context<S>) {
    let watched = ctx.clone();
    ctx.spawn("report a full queue", async move {
        while watched.status() != Status::Warning {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        say("QUEUE FULL");
    });
}

/// The child: runs the service of its mode with `run()` until a signal, then reports how
/// `run` returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_stopper() {
    let Some(mode) = child_mode() else { return };
    log_to_stdout();
    let _stdin = child_stdin();
    let result = match mode.as_str() {
        "blocked_worker" => {
            Runner::new(BlockedWorker)
                .with_address(Role::Pull, format!("@{ANY_PORT}"))
                .with_address(Role::Push, ANY_PORT)
                .run()
                .await
        }
        "sleeper" => {
            Runner::new(Sleeper)
                .with_address(Role::Sub, child_arg("ADDR"))
                .run()
                .await
        }
        "blocked_timer" => {
            Runner::new(BlockedTimer { ticks: 0 })
                .with_address(Role::Push, ANY_PORT)
                .run()
                .await
        }
        "slow_start" => Runner::new(SlowStart).run().await,
        "hangup" => {
            Runner::new(HangupChild)
                .with_address(Role::Pub, ANY_PORT)
                .run()
                .await
        }
        other => panic!("unknown child mode {other}"),
    };
    say(format_args!("RUN RETURNED {result:?}"));
    result.expect("run");
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Sends `signal` to `child` and checks the stop: exit 0 within [`STOP_BOUND`] of the
/// signal, `run` returned `Ok`, final stats logged. Returns what the child printed and its
/// final stats line.
async fn stop_gracefully(child: Kid, signal: &str) -> (Vec<String>, String) {
    let asked = Instant::now();
    child.signal(signal);
    let (status, lines) = child.wait().await;
    let took = asked.elapsed();
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "graceful exit after SIG{signal}; the child printed {lines:#?}"
    );
    assert!(
        took <= STOP_BOUND,
        "the stop took {took:?} (bound {STOP_BOUND:?}); the child printed {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("RUN RETURNED Ok(())")),
        "{lines:#?}"
    );
    let last = lines
        .iter()
        .find(|l| l.contains("experimance::stats") && l.contains("final: "))
        .unwrap_or_else(|| panic!("no final stats line: {lines:#?}"))
        .clone();
    assert!(last.contains("state=stopped"), "{last}");
    (lines, last)
}

/// The `messages` of the warn line about pushes still queued at the stop.
fn still_queued(lines: &[String]) -> u64 {
    let line = lines
        .iter()
        .find(|l| l.contains("stopped with messages still queued for a puller"))
        .unwrap_or_else(|| panic!("no warning about queued pushes: {lines:#?}"));
    field(line, "messages").unwrap_or_else(|| panic!("no messages=N: {line}"))
}

/// `handler` was dropped at the deadline with pushes still queued: the final stats count
/// one error for it and one per push the warning says was left.
fn cancelled_with_pushes_queued(lines: &[String], last: &str, handler: &str) {
    cancelled(lines, handler);
    let queued = still_queued(lines);
    assert!(queued >= 1, "{lines:#?}");
    assert_eq!(
        field(last, "errors"),
        Some(1 + queued),
        "{last}; the child printed {lines:#?}"
    );
}

/// The warn line that says `handler` was dropped at the deadline, which must be the only
/// call dropped.
fn cancelled<'a>(lines: &'a [String], handler: &str) -> &'a str {
    let named = format!("handler={handler} ");
    let dropped: Vec<&String> = lines.iter().filter(|l| l.contains(CANCELLED)).collect();
    let [line] = dropped[..] else {
        panic!("not one `{CANCELLED}` line: {lines:#?}");
    };
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&named), "not `{named}`: {line}");
    line
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// A worker's task handler waits for room in its full send queue (an hour of send timeout;
/// its PUSH has no puller) when SIGTERM comes: the process exits 0 within the bound, a warn
/// line says the `task` handler was cancelled at the deadline, and the final stats count it
/// as an error, besides one per answer left in the queue.
///
/// What breaks it: a stop that waits for the handler in hand without a deadline (the child
/// then runs until the safety net kills it), or a cancellation that is not counted or named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_handler_waiting_for_room_to_push_at_the_deadline() {
    let mut child = spawn_logging_child("child_stopper", "blocked_worker", &[]);
    let endpoint = child.line("ENDPOINT").await;
    let mut tasks = Raw::connect(zmq::PUSH, &endpoint);
    for i in 0..3 {
        tasks.send(format!(r#"{{"i":{i}}}"#)).await;
    }
    // The answers fill the queue; the handler in hand waits for room.
    child.line("QUEUE FULL").await;
    let (lines, last) = stop_gracefully(child, "TERM").await;
    cancelled_with_pushes_queued(&lines, &last, "task");
}

/// A topic handler awaits an hour-long sleep when SIGTERM comes: the process exits 0 within
/// the bound, a warn line says `topic nap` was cancelled at the deadline, and the final
/// stats count that one error.
///
/// What breaks it: a stop that waits for the handler in hand without a deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_handler_sleeping_for_an_hour_at_the_deadline() {
    let mut publisher = Raw::bind(zmq::PUB);
    let mut child =
        spawn_logging_child("child_stopper", "sleeper", &[("ADDR", &publisher.endpoint)]);
    // A message published before the child's subscription arrived is lost (slow joiner):
    // publish until the handler says it took one.
    let mut napping = false;
    for _ in 0..200 {
        publisher.send("nap {}").await;
        let probe_wait = Instant::now() + Duration::from_millis(100);
        if child.next("NAPPING", probe_wait).await.is_some() {
            napping = true;
            break;
        }
    }
    assert!(napping, "the handler never started: {:#?}", child.seen);
    let (lines, last) = stop_gracefully(child, "TERM").await;
    cancelled(&lines, "topic nap");
    assert_eq!(field(&last, "errors"), Some(1), "{last}");
}

/// A timer waits for room in its full send queue (an hour of send timeout; its PUSH has no
/// puller) when SIGTERM comes: the process exits 0 within the bound, a warn line names the
/// timer (`feed`) as cancelled at the deadline, and the final stats count it as an error,
/// besides one per push left in the queue.
///
/// What breaks it: a stop that waits for the timer in hand without a deadline, or a loop
/// that starts another tick after the stop (a second cancellation, one more error: see
/// [`no_timer_call_starts_after_a_stop_was_asked`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_timer_waiting_for_room_to_push_at_the_deadline() {
    let mut child = spawn_logging_child("child_stopper", "blocked_timer", &[]);
    // The first ticks fill the queue; the tick in hand waits for room.
    child.line("QUEUE FULL").await;
    let (lines, last) = stop_gracefully(child, "TERM").await;
    cancelled_with_pushes_queued(&lines, &last, "feed");
}

/// Asks its own stop from a timer, whose call then takes 5 ms more (so that the next tick is
/// due when it ends), and counts the timer calls that start after that.
#[service(name = "LateTicker", stats_interval = "off")]
struct LateTicker {
    stop_asked: bool,
    late: Arc<AtomicU64>,
}

#[handlers]
impl LateTicker {
    #[on_start]
    async fn started(&mut self) {
        self.stop_asked = false;
    }

    #[every("1ms")]
    async fn tick(&mut self, ctx: &Context<Self>) {
        if self.stop_asked {
            self.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.stop_asked = true;
        ctx.stop();
        // Simulated work that ends well within the drain timeout, not synchronisation.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// No timer call starts once a stop has been asked: a timer asks its service to stop and
/// ends 5 ms later, with the next tick due; over 20 runs, no timer call starts after that.
/// (The timer in hand when the stop comes runs on, up to the deadline; new ones are not
/// started, as no new message is taken for a handler.)
///
/// What breaks it: a message loop that picks at random between the stop request and a tick
/// that is due (an unbiased `select!`, where the tick wins about 2 times in 3): it starts
/// another timer call after the stop, and one started after the deadline is cancelled at
/// once, logged as `still running at the stop's deadline` and counted as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_timer_call_starts_after_a_stop_was_asked() {
    let late = Arc::new(AtomicU64::new(0));
    let runner = Runner::new(LateTicker {
        stop_asked: false,
        late: late.clone(),
    });
    for run in 0..20 {
        runner.start().await.expect("start");
        tokio::time::timeout(SAFETY, runner.wait())
            .await
            .expect("the timer stops the service")
            .expect("run");
        assert_eq!(
            late.load(Ordering::Relaxed),
            0,
            "a timer call started after the stop was asked (run {run})"
        );
    }
}

/// Its `#[on_start]` says `STARTING` and then awaits an hour-long sleep.
#[service(name = "SlowStart", stats_interval = "off")]
struct SlowStart;

#[handlers]
impl SlowStart {
    #[on_start]
    async fn start(&mut self) {
        say("STARTING");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A process whose `#[on_start]` never ends is sent SIGTERM, which it notes (it will stop as
/// soon as the start ends), then SIGTERM again: it exits at once with status 130, as a
/// second signal does once running. Signals used to be ignored until the start ended, so
/// nothing but SIGKILL ended such a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_a_start_that_never_ends() {
    let mut child = spawn_logging_child("child_stopper", "slow_start", &[]);
    child.line("STARTING").await;
    child.signal("TERM");
    child.line("stopping once started").await;
    child.signal("TERM");
    let (status, lines) = child.wait().await;
    assert_eq!(status.code(), Some(130), "exit status; printed {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("second signal: exiting at once")),
        "{lines:#?}"
    );
}

/// SIGHUP (a closed terminal) stops a service as gracefully as SIGTERM: a last heartbeat
/// says `stopping`, the process exits 0 within the bound and logs its final stats.
///
/// What breaks it: SIGHUP left to its default action, which kills the process (no final
/// stats, no `stopping` heartbeat, death by signal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_gracefully() {
    let mut child = spawn_logging_child("child_stopper", "hangup", &[]);
    let endpoint = child.line("ENDPOINT").await;
    let mut heartbeats = Raw::sub(&endpoint, &["hangup.heartbeat"]);
    let state = |frame: Vec<u8>| -> String {
        let text = String::from_utf8(frame).expect("UTF-8 heartbeat");
        let (_, body) = text.split_once(' ').expect("<topic> <json>");
        let body: Value = serde_json::from_str(body).expect("JSON heartbeat");
        body["state"].as_str().expect("state").to_owned()
    };
    // The subscription is live once a heartbeat arrives.
    assert_eq!(state(heartbeats.recv().await), "running");
    let (lines, _) = stop_gracefully(child, "HUP").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopping gracefully") && l.contains("SIGHUP")),
        "{lines:#?}"
    );
    loop {
        let state = state(heartbeats.recv().await);
        if state != "running" {
            assert_eq!(state, "stopping", "the last heartbeat");
            break;
        }
    }
}
