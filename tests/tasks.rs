//! Background tasks, hooks and timers (issue 3): a failing task (error or panic) stops the
//! service with `Error::TaskFailed` and status `error`; `#[on_start]`, `#[every]` and
//! `#[on_stop]` fire in order, and `on_stop` can still publish; a slow tick neither overlaps
//! other handlers nor makes missed ticks pile up.

mod common;

use std::time::{Duration, Instant};

use common::{events, relay, serve_pub, split, sync_raw_sub, Inlet, Raw, Tx, ANY_PORT};
use experimance::{handlers, service, Context, Error, Role, Runner, State, Status};
use serde_json::{json, Value};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------------
// A failing background task stops the service
// ---------------------------------------------------------------------------------------------

enum Failure {
    /// `ctx.spawn` in `on_start` of a task returning `Err`.
    ErrAtStart,
    /// `ctx.spawn` in `on_start` of a task that panics.
    PanicAtStart,
    /// A task that fails when the test says so, long after the start.
    ErrLater(Option<oneshot::Receiver<()>>),
    /// A task spawned by a timer handler, panicking on its first poll.
    PanicFromTimer,
}

#[service(name = "Doomed", stats_interval = "off")]
struct Doomed {
    tx: Tx,
    failure: Failure,
    ticks: u64,
}

#[handlers]
impl Doomed {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        self.tx.note("on_start");
        match &mut self.failure {
            Failure::ErrAtStart => {
                ctx.spawn("failing-task", async { Err::<(), _>("boom: task error") })
            }
            Failure::PanicAtStart => ctx.spawn("panicking-task", panics("kaboom: task panic")),
            Failure::ErrLater(go) => {
                let go = go.take().expect("fired once");
                ctx.spawn("late-task", async move {
                    let _ = go.await;
                    Err::<(), String>("late failure".to_owned())
                });
            }
            Failure::PanicFromTimer => {}
        }
    }

    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) {
        self.ticks += 1;
        self.tx.send("tick", "", json!(self.ticks));
        if matches!(self.failure, Failure::PanicFromTimer) && self.ticks == 3 {
            ctx.spawn("spawned-by-timer", panics("timer task panic"));
        }
    }

    #[on_stop]
    async fn stop(&mut self, ctx: &Context<Self>) {
        self.tx
            .send("on_stop", "", json!({"status": ctx.status().as_str()}));
    }
}

/// A background task that panics on its first poll.
async fn panics(message: &'static str) {
    panic!("{message}");
}

fn doomed(failure: Failure) -> (Runner<Doomed>, common::Events) {
    let (tx, events) = events();
    let runner = Runner::new(Doomed {
        tx,
        failure,
        ticks: 0,
    });
    (runner, events)
}

/// The `on_stop` event, after the timer's ticks: on a loaded machine the 10 ms timer can
/// tick before the task that fails at start has run.
async fn on_stop_after_ticks(events: &mut common::Events) -> common::Event {
    loop {
        let event = events.next_non_probe().await;
        if event.what != "tick" {
            assert_eq!(event.what, "on_stop", "expected `on_stop`, got {event:?}");
            return event;
        }
    }
}

fn assert_task_failed(error: &Error, task: &str, message: &str) {
    assert!(
        matches!(
            error,
            Error::TaskFailed { service, task: t, message: m }
                if service == "Doomed" && t == task && m.contains(message)
        ),
        "expected TaskFailed of `{task}` with `{message}`, got {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_error_stops_the_service_and_run_returns_it() {
    let (runner, mut events) = doomed(Failure::ErrAtStart);
    let error = tokio::time::timeout(common::SAFETY, runner.run())
        .await
        .expect("run returns once the task failed")
        .expect_err("run returns the task's error");
    assert_task_failed(&error, "failing-task", "boom: task error");
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Error);
    assert_eq!(events.expect("on_start").await.what, "on_start");
    // The stop is a regular stop: `on_stop` runs, and sees the `error` status.
    let on_stop = on_stop_after_ticks(&mut events).await;
    assert_eq!(on_stop.body["status"], "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_panic_stops_the_service_and_wait_returns_it() {
    let (runner, mut events) = doomed(Failure::PanicAtStart);
    runner.start().await.expect("start");
    let error = runner
        .wait()
        .await
        .expect_err("wait returns the task's panic");
    assert_task_failed(&error, "panicking-task", "kaboom: task panic");
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Error);
    assert_eq!(events.expect("on_start").await.what, "on_start");
    assert_eq!(
        on_stop_after_ticks(&mut events).await.body["status"],
        "error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_task_failure_stops_a_running_service_which_can_restart() {
    let (go, fire) = oneshot::channel();
    let (runner, mut events) = doomed(Failure::ErrLater(Some(fire)));
    runner.start().await.expect("start");
    assert_eq!(events.expect("on_start").await.what, "on_start");
    // Running and ticking.
    for _ in 0..3 {
        assert_eq!(events.expect("tick").await.what, "tick");
    }
    assert_eq!(runner.state(), State::Running);
    assert_eq!(runner.status(), Status::Healthy);

    go.send(()).unwrap();
    let error = runner.wait().await.expect_err("the task failed");
    assert_task_failed(&error, "late-task", "late failure");
    assert_eq!(runner.status(), Status::Error);
    assert_eq!(runner.state(), State::Stopped);

    // A restart clears the failure.
    runner.with_service(|s| {
        s.failure = Failure::PanicFromTimer;
        s.ticks = 0;
    });
    runner.start().await.expect("restart");
    assert_eq!(runner.status(), Status::Healthy);
    // This time the third tick spawns a task that panics.
    let error = runner.wait().await.expect_err("the timer's task failed");
    assert_task_failed(&error, "spawned-by-timer", "timer task panic");
    assert_eq!(runner.status(), Status::Error);
}

// ---------------------------------------------------------------------------------------------
// Background tasks end with the service
// ---------------------------------------------------------------------------------------------

/// Sends `what` when dropped: shows a task's future was dropped (cancelled).
struct OnDrop(Tx, &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.note(self.1);
    }
}

#[service(name = "Tasks", stats_interval = "off")]
struct Tasks {
    tx: Tx,
}

#[handlers]
impl Tasks {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        let guard = OnDrop(self.tx.clone(), "forever-task dropped");
        let tx = self.tx.clone();
        ctx.spawn("forever", async move {
            let _guard = guard;
            tx.note("forever-task running");
            std::future::pending::<()>().await;
        });
        let tx = self.tx.clone();
        ctx.spawn("short", async move {
            tx.note("short-task done");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_tasks_are_cancelled_by_the_stop() {
    let (tx, mut events) = events();
    let runner = Runner::new(Tasks { tx });
    runner.start().await.expect("start");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(events.next().await.what);
    }
    seen.sort();
    assert_eq!(seen, ["forever-task running", "short-task done"]);
    // A task that ended with `()` does not stop the service.
    assert_eq!(runner.state(), State::Running);

    runner.stop().await;
    // `stop` returned: the endless task has been cancelled already.
    let after: Vec<String> = events.drain_now().into_iter().map(|e| e.what).collect();
    assert_eq!(after, ["forever-task dropped"]);
    runner
        .wait()
        .await
        .expect("a cancelled task is not a failure");
    assert_eq!(runner.status(), Status::Healthy);
}

// ---------------------------------------------------------------------------------------------
// Hooks and timers fire in order; `on_stop` can still publish
// ---------------------------------------------------------------------------------------------

#[service(
    name = "Hooks",
    pub = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    heartbeat = "hooks.hb",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Hooks {
    tx: Tx,
    relay: Option<Inlet>,
    fast: u64,
    slow: u64,
}

#[handlers]
impl Hooks {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.relay.take().expect("relay"));
        self.tx
            .send("on_start", "", json!({"state": ctx.state().as_str()}));
    }

    #[task]
    async fn task(&mut self, msg: Value) {
        self.tx.send("task", "", msg);
    }

    #[every("15ms")]
    async fn fast_tick(&mut self) {
        self.fast += 1;
        self.tx.send("fast", "", json!(self.fast));
    }

    #[every("40ms")]
    async fn slow_tick(&mut self) {
        self.slow += 1;
        self.tx.send("slow", "", json!(self.slow));
    }

    #[on_stop]
    async fn stop(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        self.tx
            .send("on_stop", "", json!({"state": ctx.state().as_str()}));
        ctx.publish_to("last", &json!({"bye": true})).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_start_every_and_on_stop_fire_in_order() {
    let (tx, mut events) = events();
    let (outlet, inlet) = relay();
    // A task is queued for the service before it starts; `on_start` still comes first.
    let mut raw_push = Raw::bind(zmq::PUSH);
    let runner = Runner::new(Hooks {
        tx,
        relay: Some(inlet),
        fast: 0,
        slow: 0,
    })
    .with_address(Role::Pub, ANY_PORT)
    .with_address(Role::Pull, raw_push.endpoint.clone());
    let (sent, started) = tokio::join!(raw_push.send(r#"{"early": true}"#), runner.start());
    let () = sent;
    started.expect("start");
    let mut raw_sub = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["probe", "last"]);
    sync_raw_sub(&outlet, &mut raw_sub).await;

    // Wait until both timers fired a few times.
    let mut log: Vec<(String, Value)> = Vec::new();
    let (mut fast, mut slow, mut task) = (0, 0, false);
    while fast < 4 || slow < 2 || !task {
        let event = events.next().await;
        match event.what.as_str() {
            "fast" => fast += 1,
            "slow" => slow += 1,
            "task" => task = true,
            _ => {}
        }
        log.push((event.what, event.body));
    }
    runner.stop().await;
    log.extend(events.drain_now().into_iter().map(|e| (e.what, e.body)));

    let whats: Vec<&str> = log.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        log[0],
        ("on_start".to_owned(), json!({"state": "starting"}))
    );
    let task_at = whats
        .iter()
        .position(|w| *w == "task")
        .expect("task handled");
    assert_eq!(log[task_at].1, json!({"early": true}));
    let last = log.last().unwrap();
    assert_eq!(last, &("on_stop".to_owned(), json!({"state": "stopping"})));
    assert_eq!(whats.iter().filter(|w| **w == "on_start").count(), 1);
    assert_eq!(whats.iter().filter(|w| **w == "on_stop").count(), 1);
    // Each timer counts up by one, in order: no tick is lost from the log or repeated.
    for timer in ["fast", "slow"] {
        let counts: Vec<u64> = log
            .iter()
            .filter(|(w, _)| w == timer)
            .map(|(_, b)| b.as_u64().unwrap())
            .collect();
        assert_eq!(
            counts,
            (1..=counts.len() as u64).collect::<Vec<_>>(),
            "{timer}"
        );
    }

    // `on_stop` ran before the sockets closed: its last message went out.
    let frame = raw_sub.recv_skipping("probe ").await;
    assert_eq!(split(&frame), ("last".to_owned(), json!({"bye": true})));
    assert_eq!(runner.stats().errors, 0);
}

// ---------------------------------------------------------------------------------------------
// A slow tick: handlers never overlap, missed ticks do not pile up, the timer keeps firing
// ---------------------------------------------------------------------------------------------

const PERIOD: Duration = Duration::from_millis(20);
/// The slow tick's simulated work: ten periods.
const SLOW_WORK: Duration = Duration::from_millis(200);
const SLOW_TICK: usize = 2;

#[service(
    name = "Slow",
    pull = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct Slow {
    tx: Tx,
    /// Start and end of every tick and every task.
    spans: Vec<(&'static str, Instant, Instant)>,
}

#[handlers]
impl Slow {
    #[every("20ms")]
    async fn tick(&mut self) {
        let start = Instant::now();
        let n = self.spans.iter().filter(|s| s.0 == "tick").count() + 1;
        if n == SLOW_TICK {
            self.tx.note("slow tick started");
            // Work that takes many periods (not synchronisation: it is the slow tick).
            tokio::time::sleep(SLOW_WORK).await;
        }
        self.spans.push(("tick", start, Instant::now()));
        self.tx.send("tick", "", json!(n));
    }

    #[task]
    async fn task(&mut self, _msg: Value) {
        let now = Instant::now();
        self.spans.push(("task", now, now));
        self.tx.note("task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_tick_does_not_overlap_or_pile_up() {
    let (tx, mut events) = events();
    let mut raw_push = Raw::bind(zmq::PUSH);
    let runner = Runner::new(Slow {
        tx,
        spans: Vec::new(),
    })
    .with_address(Role::Pull, raw_push.endpoint.clone());
    runner.start().await.expect("start");

    // While the slow tick runs, a task arrives: it is handled after the tick, not during it.
    let mut order = Vec::new();
    loop {
        let event = events.next().await;
        let started = event.what == "slow tick started";
        order.push((event.what, event.body));
        if started {
            raw_push.send("{}").await;
            break;
        }
    }
    let ticks_after = 6;
    let (mut seen_after, mut task) = (0, false);
    while seen_after < ticks_after || !task {
        let event = events.next().await;
        match event.what.as_str() {
            "tick" if event.body.as_u64().unwrap() as usize > SLOW_TICK => seen_after += 1,
            "task" => task = true,
            _ => {}
        }
        order.push((event.what, event.body));
    }
    runner.stop().await;
    let position = |what: &str, body: Value| {
        order
            .iter()
            .position(|e| e.0 == what && e.1 == body)
            .unwrap_or_else(|| panic!("no {what} {body} in {order:?}"))
    };
    let slow_started = position("slow tick started", Value::Null);
    let slow_ended = position("tick", json!(SLOW_TICK));
    let task_at = position("task", Value::Null);
    assert!(
        slow_started < slow_ended && slow_ended < task_at,
        "the task waits for the slow tick to finish: {order:?}"
    );

    let spans = runner.with_service(|s| s.spans.clone()).unwrap();
    // One at a time: every handler starts after the previous one ended.
    for pair in spans.windows(2) {
        assert!(pair[1].1 >= pair[0].2, "handlers overlapped: {pair:?}");
    }
    let ticks: Vec<_> = spans.iter().filter(|s| s.0 == "tick").collect();
    assert!(ticks.len() >= SLOW_TICK + ticks_after);
    let slow_end = ticks[SLOW_TICK - 1].2;
    assert!(ticks[SLOW_TICK - 1].2 - ticks[SLOW_TICK - 1].1 >= SLOW_WORK);
    // No pile-up: the ~10 ticks missed during the slow one are not replayed back to back.
    // With skipping, at most the overdue tick and the next aligned one start within one
    // period of the slow tick's end (one more allowed for scheduling noise); a burst would
    // start about ten.
    let burst = ticks[SLOW_TICK..]
        .iter()
        .filter(|t| t.1 < slow_end + PERIOD)
        .count();
    assert!(
        burst <= 3,
        "{burst} ticks started within {PERIOD:?} after the slow tick: missed ticks piled up"
    );
}
