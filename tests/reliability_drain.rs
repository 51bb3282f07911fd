//! Graceful drain (issue 4): on SIGTERM a service flushes what it queued to send; on a stop it
//! finishes the message in hand and handles what it already received, within the drain
//! timeout.

mod reliability_support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use experimance::{handlers, service, Context, Role, Runner, State};
use reliability_support::{
    child_mode, child_stdin, next, port_of, say, spawn_child, until_tcp, Raw, ANY_PORT, SAFETY,
    TCP_LISTEN,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

const TASKS: u64 = 10_000;

// ---------------------------------------------------------------------------------------------
// SIGTERM right after the last push
// ---------------------------------------------------------------------------------------------

#[service(
    name = "DrainPusher",
    push = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct DrainPusher;

#[handlers]
impl DrainPusher {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        say(format_args!(
            "ENDPOINT {}",
            ctx.endpoint(Role::Push).expect("endpoint")
        ));
        let pusher = ctx.clone();
        ctx.spawn("push", async move {
            // 1 KiB tasks: 10 MB in all, more than the kernel's buffers of one connection.
            let pad = "x".repeat(1024);
            for i in 0..TASKS {
                pusher
                    .push(&serde_json::json!({ "i": i, "pad": pad }))
                    .await?;
            }
            say(format_args!("PUSHED {TASKS}"));
            Ok::<(), experimance::Error>(())
        });
    }
}

/// The child: pushes 10,000 tasks, with a send high-water mark above that so every push
/// returns while the parent is not reading yet (they are all queued in the child), and runs
/// until a signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_drain_pusher() {
    if child_mode().as_deref() != Some("drain_pusher") {
        return;
    }
    let _stdin = child_stdin();
    let runner = Runner::new(DrainPusher)
        .with_address(Role::Push, ANY_PORT)
        .with_hwm(Role::Push, 2 * TASKS as i32);
    let result = runner.run().await;
    say(format_args!("RUN RETURNED {result:?}"));
    result.expect("run");
}

/// A process pushes 10,000 tasks of 1 KiB and gets SIGTERM right after it printed that the
/// last push returned, while most of them still sit in its send queue (the parent's raw PULL,
/// with a receive high-water mark of 10 and a 64 KiB kernel buffer, has not read anything
/// yet): the parent receives all 10,000, in order, and the child exits 0. (With a drain
/// timeout of zero, i.e. no linger, this test loses thousands of them.)
///
/// The child runs with the default settings. (Before ZMTP heartbeats were limited to PUB/SUB,
/// this test lost 1,800 to 2,500 tasks in some runs: see the report of issue 4.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_the_last_push_loses_none_of_10_000_tasks() {
    let mut child = spawn_child("child_drain_pusher", "drain_pusher", &[]);
    let endpoint = child.line("ENDPOINT").await;
    let raw = Raw::new(zmq::PULL);
    raw.sock().set_rcvhwm(10).expect("rcvhwm");
    raw.sock().set_rcvbuf(64 * 1024).expect("rcvbuf");
    let mut puller = raw.connect_to(&endpoint);
    child.line("PUSHED").await;
    child.signal("TERM");
    for i in 0..TASKS {
        let Some(mut parts) = puller.recv_within(Duration::from_secs(5)).await else {
            let (status, lines) = child.wait().await;
            panic!("task {i} never arrived; child exited {status:?} printing {lines:?}");
        };
        let frame = parts.remove(0);
        let value: Value = serde_json::from_slice(&frame).expect("JSON");
        assert_eq!(value["i"], i, "task {i} arrives, in order");
    }
    let (status, lines) = child.wait().await;
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "graceful exit; child printed {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("RUN RETURNED Ok(())")),
        "{lines:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Messages already received are handled on stop
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Numbered {
    i: u64,
}

/// Holds task 0 until `gate` is notified (the message in hand); each task then takes `work`.
#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct Slow {
    tx: mpsc::UnboundedSender<u64>,
    gate: std::sync::Arc<Notify>,
    work: Duration,
    ctx: Option<oneshot::Sender<Context<Slow>>>,
}

#[handlers]
impl Slow {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }

    #[task]
    async fn task(&mut self, msg: Numbered) {
        if msg.i == 0 {
            let _ = self.tx.send(u64::MAX); // "task 0 is in hand"
            self.gate.notified().await;
        }
        // Simulated work, not synchronisation.
        if !self.work.is_zero() {
            tokio::time::sleep(self.work).await;
        }
        let _ = self.tx.send(msg.i);
    }
}

struct Queued {
    runner: Runner<Slow>,
    ctx: Context<Slow>,
    gate: std::sync::Arc<Notify>,
    rx: mpsc::UnboundedReceiver<u64>,
}

/// Starts a `Slow` service on a bound PULL, sends it `count` tasks from a raw PUSH while task
/// 0 is held in its handler, and returns once every byte of them has left the kernel's
/// buffers for the service's libzmq queue: the raw socket is closed with an infinite linger
/// (so libzmq handed everything to the kernel) and the service's end of the connection has
/// nothing left to read.
async fn queue_tasks(count: u64, work: Duration, drain_timeout: Duration) -> Queued {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let gate = std::sync::Arc::new(Notify::new());
    let runner = Runner::new(Slow {
        tx,
        gate: gate.clone(),
        work,
        ctx: Some(ctx_tx),
    })
    .with_address(Role::Pull, "@tcp://127.0.0.1:*")
    .with_hwm(Role::Pull, 2 * count as i32)
    .with_drain_timeout(drain_timeout);
    runner.start().await.expect("start");
    let ctx = tokio::time::timeout(SAFETY, ctx_rx).await.unwrap().unwrap();
    let endpoint = runner.endpoint(Role::Pull).expect("endpoint");
    let port = port_of(&endpoint);

    let mut raw = Raw::new(zmq::PUSH).connect_to(&endpoint);
    raw.send(r#"{"i":0}"#).await;
    assert_eq!(next(&mut rx, "task 0 in hand").await, u64::MAX);
    raw.send_all(
        (1..count)
            .map(|i| vec![format!(r#"{{"i":{i}}}"#).into_bytes()])
            .collect(),
    )
    .await;
    raw.close_flushing().await;
    until_tcp("the service has read every byte sent to it", |sockets| {
        sockets
            .iter()
            .filter(|s| s.local_port == port && s.state != TCP_LISTEN)
            .all(|s| s.rx_queue == 0)
    })
    .await;
    Queued {
        runner,
        ctx,
        gate,
        rx,
    }
}

/// A stop requested while task 0 is in hand and 4,999 more are queued (far more than the
/// runtime handles in one batch, 256): task 0 is finished and every queued task is handled,
/// in order, before the service stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_handles_every_message_already_received() {
    const COUNT: u64 = 5_000;
    let mut queued = queue_tasks(COUNT, Duration::ZERO, Duration::from_secs(15)).await;
    queued.ctx.stop();
    queued.gate.notify_one();
    tokio::time::timeout(SAFETY, queued.queued_stop())
        .await
        .expect("the stop completes");
    let mut handled = Vec::new();
    while let Ok(i) = queued.rx.try_recv() {
        handled.push(i);
    }
    assert_eq!(
        handled,
        (0..COUNT).collect::<Vec<_>>(),
        "every task received before the stop is handled, in order"
    );
    let stats = queued.runner.stats();
    assert_eq!(stats.messages_received, COUNT);
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.state, State::Stopped);
}

impl Queued {
    async fn queued_stop(&self) {
        self.runner.stop().await;
    }
}

/// The drain timeout bounds the drain: with 1,000 tasks queued that take at least 20 ms each
/// and a drain timeout of 300 ms, the stop hands back control having handled at most the task
/// in hand plus what fits in 300 ms (15) plus the one in progress at the deadline: 17. (An
/// upper bound that a slow machine only makes easier to meet.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_timeout_bounds_how_long_a_stop_handles_queued_messages() {
    const COUNT: u64 = 1_000;
    let mut queued =
        queue_tasks(COUNT, Duration::from_millis(20), Duration::from_millis(300)).await;
    queued.ctx.stop();
    queued.gate.notify_one();
    // 1,000 × 20 ms of work would be 20 s: the safety net is wider than that.
    tokio::time::timeout(Duration::from_secs(60), queued.queued_stop())
        .await
        .expect("the stop completes");
    let mut handled = Vec::new();
    while let Ok(i) = queued.rx.try_recv() {
        handled.push(i);
    }
    assert!(handled.first() == Some(&0), "the task in hand is finished");
    assert!(
        handled.len() <= 17,
        "a 300 ms drain of 20 ms tasks handled {} of them",
        handled.len()
    );
    assert_eq!(queued.runner.state(), State::Stopped);
}
