//! Stalled sends (issue 10, "a handler waiting to send freezes the whole service"): a push that
//! libzmq cannot take at once (every puller at its high-water mark, or none connected) waits
//! in the service's send queue, so the handler returns and the loop keeps receiving; only a
//! full queue makes a push wait, for at most `send_timeout`. A connecting PUSH hands nothing
//! to libzmq while no puller is connected (ZMQ_IMMEDIATE), so what a stop finds still queued
//! is counted as lost, not as sent.
//!
//! The last test re-executes this test binary (`--exact child_* --nocapture`) with
//! `EXPERIMANCE_RELIABILITY_CHILD` set; the child tests do nothing without it.

mod reliability_support;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Error, Role, Runner, State, Status};
use reliability_support::{
    child_arg, child_mode, child_stdin, field, free_tcp_address, log_to_stdout, next, say,
    spawn_logging_child, until, Raw, ANY_PORT, SAFETY,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// A task or an answer: its number and a padding that makes it large.
#[derive(Serialize)]
struct Work<'a> {
    i: u64,
    pad: &'a str,
}

/// What the receivers read of a [`Work`] (serde skips the padding).
#[derive(Debug, Deserialize)]
struct Numbered {
    i: u64,
}

// ---------------------------------------------------------------------------------------------
// A controller and a worker pushing to each other
// ---------------------------------------------------------------------------------------------

/// How many tasks the controller hands out.
const TASKS: u64 = 300;

/// How many tasks the controller keeps unanswered at most; it pushes them all in one timer
/// call, twice as many as its send queue holds.
const WINDOW: u64 = 64;

/// The send queue of both services.
const QUEUE: usize = 32;

/// The padding of every task and answer: 256 KiB, so that what the kernel buffers on a
/// connection (a few MiB) is a dozen or so messages, not thousands.
const PAD: usize = 256 * 1024;

/// Hands out [`TASKS`] tasks, keeping at most [`WINDOW`] unanswered, and reports every answer.
#[service(
    name = "StallController",
    push = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    hwm = 5,
    send_timeout = "1h",
    stats_interval = "off"
)]
struct StallController {
    pushed: u64,
    answered: u64,
    pad: String,
    answers: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl StallController {
    /// Fills the window, in one call: up to 64 pushes, more than the send queue holds.
    #[every("5ms")]
    async fn feed(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        while self.pushed < TASKS && self.pushed - self.answered < WINDOW {
            let i = self.pushed;
            self.pushed += 1;
            ctx.push(&Work { i, pad: &self.pad }).await?;
        }
        Ok(())
    }

    #[task]
    async fn answer(&mut self, answer: Numbered) {
        self.answered += 1;
        let _ = self.answers.send(answer.i);
    }
}

/// Answers every task with a message as large as the task.
#[service(
    name = "StallWorker",
    pull = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    hwm = 5,
    send_timeout = "1h",
    stats_interval = "off"
)]
struct StallWorker {
    pad: String,
}

#[handlers]
impl StallWorker {
    #[task]
    async fn work(&mut self, task: Numbered, ctx: &Context<Self>) -> Result<(), Error> {
        ctx.push(&Work {
            i: task.i,
            pad: &self.pad,
        })
        .await
    }
}

/// A controller (PUSH and PULL bound) and a worker (both connecting), every socket with a
/// high-water mark of 5 and a send queue of 32 with a send timeout of an hour: the
/// controller keeps up to 64 tasks of 256 KiB unanswered, pushing them from a timer (one call
/// pushes the whole window), the worker pushes a 256 KiB answer from its task handler, and
/// every one of the 300 tasks is answered exactly once.
///
/// What breaks it: a push that waits in the handler whenever libzmq cannot take the message
/// (no send queue, as before it existed). The controller's timer then waits with the tasks'
/// path full while it reads no answers, the worker waits with the answers' path full while
/// it reads no tasks, and neither ever moves again: that takes 5 + 5 messages in each
/// direction's libzmq queues plus what the kernel buffers (here about 4 MiB, 16 of these
/// messages), fewer than 64 (before the send queue this test stalled with 59 tasks pushed
/// and 32 answers sent, none received). With the send queues each side takes 32 more before
/// its handler waits, so a deadlock needs at least 2 × (32 + 1) messages in flight, more than
/// the window. The test then fails on the safety net, with both services' stats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_and_a_worker_that_push_to_each_other_answer_every_task() {
    let pad = "x".repeat(PAD);
    let (answers, mut answered) = mpsc::unbounded_channel();
    let controller = Runner::new(StallController {
        pushed: 0,
        answered: 0,
        pad: pad.clone(),
        answers,
    })
    .with_address(Role::Push, ANY_PORT)
    .with_address(Role::Pull, format!("@{ANY_PORT}"))
    .with_send_queue(QUEUE);
    controller.start().await.expect("start the controller");
    let tasks = controller.endpoint(Role::Push).expect("push endpoint");
    let results = controller.endpoint(Role::Pull).expect("pull endpoint");
    let worker = Runner::new(StallWorker { pad })
        .with_address(Role::Pull, tasks)
        .with_address(Role::Push, format!(">{results}"))
        .with_send_queue(QUEUE);
    worker.start().await.expect("start the worker");

    let mut seen = BTreeSet::new();
    while seen.len() < TASKS as usize {
        let i = match tokio::time::timeout(SAFETY, answered.recv()).await {
            Ok(Some(i)) => i,
            _ => panic!(
                "stalled after {} answers: controller {}, worker {}",
                seen.len(),
                controller.stats(),
                worker.stats()
            ),
        };
        assert!(seen.insert(i), "task {i} answered twice");
    }
    assert_eq!(seen, (0..TASKS).collect::<BTreeSet<_>>());

    worker.stop().await;
    controller.stop().await;
    for (stats, name) in [
        (controller.stats(), "controller"),
        (worker.stats(), "worker"),
    ] {
        assert_eq!(
            (stats.messages_sent, stats.messages_received, stats.errors),
            (TASKS, TASKS, 0),
            "{name}: every task and answer sent and received once, no error: {stats}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A controller whose worker is missing
// ---------------------------------------------------------------------------------------------

/// Pushes a numbered task every 20 ms, reporting those whose push timed out; reports every
/// answer.
#[service(
    name = "LonelyController",
    push = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    pub = "inproc://overridden-by-the-test",
    heartbeat = "lonely.heartbeat",
    heartbeat_interval = "50ms",
    stats_interval = "off"
)]
struct LonelyController {
    n: u64,
    answers: mpsc::UnboundedSender<u64>,
    timed_out: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl LonelyController {
    #[every("20ms")]
    async fn feed(&mut self, ctx: &Context<Self>) {
        self.n += 1;
        match ctx.push(&json!({ "i": self.n })).await {
            Ok(()) => {}
            Err(Error::SendTimeout { .. }) => {
                let _ = self.timed_out.send(self.n);
            }
            Err(e) => panic!("push {} failed otherwise: {e}", self.n),
        }
    }

    #[task]
    async fn answer(&mut self, answer: Numbered) {
        let _ = self.answers.send(answer.i);
    }
}

/// A controller with no worker (its PUSH binds and nobody connects), a send queue of 4 and
/// a send timeout of 100 ms, whose timer pushes every 20 ms: once the queue is full its
/// health is `warning` and pushes fail with `SendTimeout` (counted in `errors`), yet it
/// handles all 5 answers a raw PUSH sends it meanwhile and keeps sending heartbeats. When a
/// puller connects at last, it receives what was queued, in order, and none of the pushes
/// that timed out; the queue empties and health is `healthy` again.
///
/// What breaks it: a push that waits for a puller in the timer (no send queue, or no
/// timeout): the loop never reads the answers. A timed-out push that is sent anyway, or a
/// health that stays `warning` after the queue emptied, fail the later assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_worker_pushes_time_out_while_answers_and_heartbeats_keep_flowing() {
    const ANSWERS: u64 = 5;
    let (answers, mut answered) = mpsc::unbounded_channel();
    let (timed_out, mut timeouts) = mpsc::unbounded_channel();
    let runner = Runner::new(LonelyController {
        n: 0,
        answers,
        timed_out,
    })
    .with_address(Role::Push, ANY_PORT)
    .with_address(Role::Pull, format!("@{ANY_PORT}"))
    .with_address(Role::Pub, ANY_PORT)
    .with_send_queue(4)
    .with_send_timeout(Duration::from_millis(100));
    runner.start().await.expect("start");
    let mut heartbeats = Raw::sub(
        &runner.endpoint(Role::Pub).expect("pub endpoint"),
        &["lonely.heartbeat"],
    );

    // The queue fills: the first push that finds it full times out.
    let first = next(&mut timeouts, "a push that timed out").await;
    let stats = runner.stats();
    assert_eq!(stats.status, Status::Warning, "queue full: {stats}");
    assert!(stats.errors >= 1, "the timeout is counted: {stats}");

    // The loop still reads: every answer is handled while pushes keep timing out.
    let mut answerer = Raw::connect(zmq::PUSH, &runner.endpoint(Role::Pull).expect("pull"));
    for i in 0..ANSWERS {
        answerer
            .send(serde_json::to_vec(&json!({ "i": i })).unwrap())
            .await;
    }
    let mut got = Vec::new();
    for _ in 0..ANSWERS {
        got.push(next(&mut answered, "an answer").await);
    }
    assert_eq!(got, (0..ANSWERS).collect::<Vec<_>>());
    let later = next(&mut timeouts, "a timeout after the answers").await;
    assert!(later > first);

    // Heartbeats keep coming, and say `running`.
    for _ in 0..3 {
        let frame = heartbeats.recv().await;
        let text = String::from_utf8(frame).expect("UTF-8 heartbeat");
        let (topic, body) = text.split_once(' ').expect("<topic> <json>");
        assert_eq!(topic, "lonely.heartbeat");
        let body: Value = serde_json::from_str(body).expect("JSON heartbeat");
        assert_eq!(
            (body["service"].as_str(), body["state"].as_str()),
            (Some("LonelyController"), Some("running"))
        );
    }
    let stats = runner.stats();
    assert_eq!(stats.status, Status::Warning, "queue still full: {stats}");
    assert_eq!(stats.messages_received, ANSWERS, "{stats}");

    // A puller arrives: the queue empties, health recovers.
    let mut puller = Raw::connect(zmq::PULL, &runner.endpoint(Role::Push).expect("push"));
    until("health is healthy again once the queue emptied", || {
        runner.status() == Status::Healthy
    })
    .await;
    let mut received = Vec::new();
    for _ in 0..8 {
        let task: Value = serde_json::from_slice(&puller.recv().await).expect("JSON task");
        received.push(task["i"].as_u64().expect("i"));
    }
    runner.stop().await;
    let mut lost = BTreeSet::from([first, later]);
    while let Ok(i) = timeouts.try_recv() {
        lost.insert(i);
    }
    assert_eq!(
        received[0], 1,
        "the first push was queued, then sent: {received:?}"
    );
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order: {received:?}"
    );
    assert!(
        received.iter().all(|i| !lost.contains(i)),
        "a push that timed out was sent anyway: received {received:?}, timed out {lost:?}"
    );
    let stats = runner.stats();
    assert!(
        stats.errors >= lost.len() as u64,
        "every timeout is an error: {stats}, {} timeouts",
        lost.len()
    );
    assert_eq!(stats.state, State::Stopped);
}

// ---------------------------------------------------------------------------------------------
// The bound of the send queue
// ---------------------------------------------------------------------------------------------

/// Pushes nothing by itself: hands its context to the test, which pushes through it.
#[service(
    name = "QueueBound",
    push = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct QueueBound {
    ctx: Option<oneshot::Sender<Context<QueueBound>>>,
}

#[handlers]
impl QueueBound {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }
}

/// With no puller (its PUSH binds, nobody connects), a send queue of 3 and a send timeout of
/// 100 ms: exactly 3 pushes return `Ok`, the next fails with `SendTimeout`; a puller that
/// connects then receives exactly those 3, in order.
///
/// What breaks it: a queue that holds more or fewer messages than `send_queue` says (such as
/// one more, held by the task that hands the queue to libzmq while it waits for a puller).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_queue_holds_send_queue_messages() {
    const QUEUE: u64 = 3;
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner = Runner::new(QueueBound { ctx: Some(ctx_tx) })
        .with_address(Role::Push, ANY_PORT)
        .with_send_queue(QUEUE as usize)
        .with_send_timeout(Duration::from_millis(100));
    runner.start().await.expect("start");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx).await.unwrap().unwrap();
    let mut queued = Vec::new();
    loop {
        let i = queued.len() as u64;
        assert!(i <= 10 * QUEUE, "no push timed out: {queued:?} queued");
        match ctx.push(&json!({ "i": i })).await {
            Ok(()) => queued.push(i),
            Err(Error::SendTimeout { .. }) => break,
            Err(e) => panic!("push {i} failed otherwise: {e}"),
        }
    }
    assert_eq!(runner.status(), Status::Warning, "the queue is full");
    let mut puller = Raw::connect(zmq::PULL, &runner.endpoint(Role::Push).expect("push"));
    let mut received = Vec::new();
    for _ in 0..queued.len() {
        let task: Value = serde_json::from_slice(&puller.recv().await).expect("JSON task");
        received.push(task["i"].as_u64().expect("i"));
    }
    assert_eq!(received, queued, "what was queued arrives, in order");
    runner.stop().await;
    assert_eq!(
        queued,
        (0..QUEUE).collect::<Vec<_>>(),
        "a send queue of {QUEUE} took {} pushes before one timed out",
        queued.len()
    );
}

// ---------------------------------------------------------------------------------------------
// A connecting PUSH whose puller never comes
// ---------------------------------------------------------------------------------------------

/// Its PUSH connects to an address nobody listens on; pushes 3 tasks at start.
#[service(
    name = "UnheardPusher",
    push = "inproc://overridden-by-the-test",
    drain_timeout = "1s",
    stats_interval = "off"
)]
struct UnheardPusher;

#[handlers]
impl UnheardPusher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        for i in 0..3 {
            ctx.push(&json!({ "i": i }))
                .await
                .expect("a push with room in the queue returns at once");
        }
        say(format_args!("PUSHED 3 sent={}", ctx.stats().messages_sent));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_unheard_pusher() {
    if child_mode().as_deref() != Some("unheard_pusher") {
        return;
    }
    log_to_stdout();
    let _stdin = child_stdin();
    let runner =
        Runner::new(UnheardPusher).with_address(Role::Push, format!(">{}", child_arg("ADDR")));
    let result = runner.run().await;
    say(format_args!("RUN RETURNED {result:?}"));
    result.expect("run");
}

/// A process whose PUSH connects to an address where no puller ever listens pushes 3 tasks
/// (each returns at once, none is sent) and gets SIGTERM: it exits 0 within the stop's
/// bound, logs at warn that 3 messages were still queued for a puller, and its final stats
/// say `sent=0` and `errors=3`.
///
/// What breaks it: a connecting PUSH without ZMQ_IMMEDIATE, where libzmq takes the tasks
/// into a pipe for a peer that never comes: they count as sent, `errors` is 0, and no
/// warning names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_counts_the_pushes_still_queued_for_an_absent_puller() {
    let nobody = free_tcp_address();
    let mut child = spawn_logging_child(
        "child_unheard_pusher",
        "unheard_pusher",
        &[("ADDR", &nobody)],
    );
    let pushed = child.line("PUSHED 3").await;
    assert_eq!(pushed, "sent=0", "nothing was handed to libzmq");
    let asked = Instant::now();
    child.signal("TERM");
    let (status, lines) = child.wait().await;
    let took = asked.elapsed();
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "graceful exit; the child printed {lines:#?}"
    );
    // drain_timeout (1 s) + 2 s documented grace + 3 s slack for a loaded machine.
    assert!(
        took <= Duration::from_secs(6),
        "the stop took {took:?}; the child printed {lines:#?}"
    );
    let warning = lines
        .iter()
        .find(|l| l.contains("stopped with messages still queued for a puller"))
        .unwrap_or_else(|| panic!("no warning about the queued pushes: {lines:#?}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(r#"socket="push""#), "{warning}");
    assert_eq!(field(warning, "messages"), Some(3), "{warning}");
    let last = lines
        .iter()
        .find(|l| l.contains("final: "))
        .unwrap_or_else(|| panic!("no final stats line: {lines:#?}"));
    assert_eq!(field(last, "errors"), Some(3), "{last}");
    assert_eq!(field(last, "sent"), Some(0), "{last}");
    assert!(
        lines.iter().any(|l| l.contains("RUN RETURNED Ok(())")),
        "{lines:#?}"
    );
}
