//! Lifecycle (issue 2): initialized → starting → running → stopping → stopped; `start` only
//! from `initialized` or `stopped`; `stop` idempotent and safe to call concurrently; restart.

mod common;

use std::sync::Arc;

use common::{events, split, sync_service_sub, Raw, Tx, ANY_PORT};
use experimance::{handlers, service, Context, Error, Role, Runner, State, Status};
use serde_json::{json, Value};

#[service(
    name = "Lifecycle",
    pub = "inproc://overridden-by-the-test",
    sub = "inproc://overridden-by-the-test",
    topics = ["probe", "stop", "count"],
    heartbeat = "life.hb",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct Lifecycle {
    tx: Tx,
    /// Survives restarts: the runner keeps the struct while stopped.
    handled: u64,
    starts: u64,
    fail_next_start: bool,
}

impl Lifecycle {
    fn new(tx: Tx) -> Lifecycle {
        Lifecycle {
            tx,
            handled: 0,
            starts: 0,
            fail_next_start: false,
        }
    }
}

#[handlers]
impl Lifecycle {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        self.starts += 1;
        self.tx.send(
            "on_start",
            "",
            json!({
                "state": ctx.state().as_str(),
                "pub": ctx.endpoint(Role::Pub),
                "sub": ctx.endpoint(Role::Sub),
            }),
        );
        if std::mem::take(&mut self.fail_next_start) {
            return Err("refusing to start".to_owned());
        }
        Ok(())
    }

    #[on_stop]
    async fn stopped(&mut self, ctx: &Context<Self>) {
        self.tx
            .send("on_stop", "", json!({ "state": ctx.state().as_str() }));
    }

    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("count")]
    async fn count(&mut self, msg: Value) {
        self.handled += 1;
        self.tx.send(
            "count",
            "count",
            json!({"msg": msg, "handled": self.handled}),
        );
    }

    #[topic("stop")]
    async fn stop_request(&mut self, _msg: Value, ctx: &Context<Self>) {
        ctx.stop();
        self.tx.note("stop requested");
    }
}

fn runner(tx: Tx, raw_pub: &Raw) -> Runner<Lifecycle> {
    Runner::new(Lifecycle::new(tx))
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Sub, raw_pub.endpoint.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_and_start_while_running_is_an_error() {
    let (tx, mut events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);
    assert_eq!(runner.name(), "Lifecycle");
    assert_eq!(runner.state(), State::Initialized);
    assert_eq!(runner.status(), Status::Healthy);
    assert_eq!(runner.endpoint(Role::Pub), None);
    assert_eq!(runner.with_service(|s| s.starts), Some(0));

    runner.start().await.expect("start");
    assert_eq!(runner.state(), State::Running);
    // `on_start` ran while `starting`, with the sockets up.
    let event = events.expect("on_start").await;
    assert_eq!(event.body["state"], "starting");
    assert_eq!(
        event.body["pub"].as_str(),
        runner.endpoint(Role::Pub).as_deref()
    );
    assert_eq!(event.body["sub"].as_str(), Some(raw_pub.endpoint.as_str()));
    // While running, the runner does not hand out the service.
    assert_eq!(runner.with_service(|s| s.starts), None);

    let error = runner.start().await.expect_err("start while running");
    assert!(
        matches!(
            &error,
            Error::InvalidState {
                operation: "start",
                state: State::Running,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        runner.state(),
        State::Running,
        "a refused start changes nothing"
    );

    runner.stop().await;
    assert_eq!(events.expect("on_stop").await.body["state"], "stopping");
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Healthy);
    assert_eq!(runner.with_service(|s| s.starts), Some(1));
    runner
        .wait()
        .await
        .expect("a requested stop is not an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_and_concurrent_stops_are_fine() {
    let (tx, mut events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let runner = Arc::new(runner(tx, &raw_pub));

    // Stopping a service that never started does nothing.
    runner.stop().await;
    runner.stop().await;
    assert_eq!(runner.state(), State::Initialized);

    runner.start().await.expect("start");
    let waiter = tokio::spawn({
        let runner = Arc::clone(&runner);
        async move { runner.wait().await }
    });
    let stoppers: Vec<_> = (0..4)
        .map(|_| {
            let runner = Arc::clone(&runner);
            tokio::spawn(async move {
                runner.stop().await;
                runner.state()
            })
        })
        .collect();
    tokio::join!(runner.stop(), runner.stop());
    for stopper in stoppers {
        assert_eq!(stopper.await.unwrap(), State::Stopped);
    }
    waiter.await.unwrap().expect("wait after a stop");
    assert_eq!(runner.state(), State::Stopped);
    runner.stop().await;
    assert_eq!(runner.state(), State::Stopped);

    // `on_start` once, `on_stop` once, whatever the number of stops.
    assert_eq!(events.expect("on_start").await.what, "on_start");
    assert_eq!(events.expect("on_stop").await.what, "on_stop");
    assert!(events.drain_now().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_starting_stops_once_started() {
    let (tx, _events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);
    // `join!` polls `start` first, so `stop` finds the service `starting`.
    let (started, ()) = tokio::join!(runner.start(), runner.stop());
    started.expect("start");
    assert_eq!(runner.state(), State::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_stopped_works() {
    let (tx, mut events) = events();
    let mut raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);

    for round in 1..=3u64 {
        runner.start().await.expect("start");
        assert_eq!(runner.state(), State::Running);
        assert_eq!(events.expect("on_start").await.what, "on_start");

        // Both directions work again: heartbeats out, messages in.
        let endpoint = runner.endpoint(Role::Pub).unwrap();
        let mut raw_sub = Raw::sub(&endpoint, &["life.hb"]);
        let (_, heartbeat) = split(&raw_sub.recv().await);
        assert_eq!(heartbeat["state"], "running");
        sync_service_sub(&mut raw_pub, &mut events).await;
        raw_pub.send(format!(r#"count {{"round":{round}}}"#)).await;
        let event = events.expect("count").await;
        // The struct is the same one: its state carries over restarts.
        assert_eq!(
            event.body,
            json!({"msg": {"round": round}, "handled": round})
        );

        runner.stop().await;
        assert_eq!(events.expect("on_stop").await.what, "on_stop");
        assert_eq!(runner.state(), State::Stopped);
        assert_eq!(runner.with_service(|s| s.starts), Some(round));
    }
    assert_eq!(runner.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_can_stop_its_service() {
    let (tx, mut events) = events();
    let mut raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);
    runner.start().await.expect("start");
    assert_eq!(events.expect("on_start").await.what, "on_start");
    sync_service_sub(&mut raw_pub, &mut events).await;
    raw_pub.send("stop {}").await;
    runner
        .wait()
        .await
        .expect("a requested stop is not an error");
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Healthy);
    assert_eq!(events.expect("stop requested").await.what, "stop requested");
    assert_eq!(events.expect("on_stop").await.what, "on_stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_on_start_aborts_the_start_and_a_later_start_works() {
    let (tx, mut events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);
    runner.with_service(|s| s.fail_next_start = true);

    let error = runner.start().await.expect_err("on_start fails");
    assert!(
        matches!(&error, Error::StartHook { message, .. } if message.contains("refusing to start")),
        "{error}"
    );
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Fatal);
    assert_eq!(events.expect("on_start").await.what, "on_start");
    // The service is handed back, so it can be started again.
    assert_eq!(runner.with_service(|s| s.starts), Some(1));

    runner.start().await.expect("second start");
    assert_eq!(runner.state(), State::Running);
    assert_eq!(runner.status(), Status::Healthy);
    runner.stop().await;
    assert_eq!(runner.with_service(|s| s.starts), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_fails_the_start() {
    let (tx, _events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let first = runner(tx.clone(), &raw_pub);
    first.start().await.expect("start");
    let taken = first.endpoint(Role::Pub).unwrap();

    let second = Runner::new(Lifecycle::new(tx))
        .with_address(Role::Pub, taken.clone())
        .with_address(Role::Sub, raw_pub.endpoint.clone());
    let error = second.start().await.expect_err("address in use");
    assert!(
        matches!(&error, Error::Socket { role: Role::Pub, endpoint, .. } if *endpoint == taken),
        "{error}"
    );
    assert_eq!(second.state(), State::Stopped);
    assert_eq!(second.status(), Status::Fatal);
    assert!(second.with_service(|_| ()).is_some(), "service handed back");
    assert_eq!(
        first.state(),
        State::Running,
        "the first service is unaffected"
    );
    first.stop().await;
}

/// Keeps a clone of its context, so the test can call it after the service stopped.
#[service(
    name = "Keeper",
    pub = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Keeper {
    ctx: Option<tokio::sync::oneshot::Sender<Context<Keeper>>>,
}

#[handlers]
impl Keeper {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        if let Some(slot) = self.ctx.take() {
            let _ = slot.send(ctx.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_or_pushing_after_the_stop_is_a_clear_error() {
    let (slot, ctx) = tokio::sync::oneshot::channel();
    let runner = Runner::new(Keeper { ctx: Some(slot) })
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Push, ANY_PORT);
    runner.start().await.expect("start");
    let ctx = ctx.await.expect("context");
    ctx.publish_to("while.running", &json!({}))
        .await
        .expect("publish");
    runner.stop().await;

    let error = ctx
        .publish_to("after.stop", &json!({}))
        .await
        .expect_err("no socket after the stop");
    assert!(
        matches!(
            &error,
            Error::NoSocket {
                role: Role::Pub,
                ..
            }
        ),
        "{error}"
    );
    let error = ctx
        .push(&json!({}))
        .await
        .expect_err("no socket after the stop");
    assert!(
        matches!(
            &error,
            Error::NoSocket {
                role: Role::Push,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(ctx.state(), State::Stopped);
}

/// `Context::endpoint`: "`None` if it has no such socket or is not running"; `Runner::endpoint`:
/// "the endpoint of the `role` socket while running".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_once_stopped() {
    let (slot, ctx) = tokio::sync::oneshot::channel();
    let runner = Runner::new(Keeper { ctx: Some(slot) })
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Push, ANY_PORT);
    runner.start().await.expect("start");
    let ctx = ctx.await.expect("context");
    assert!(runner.endpoint(Role::Pub).is_some());
    runner.stop().await;
    assert_eq!(runner.endpoint(Role::Pub), None);
    assert_eq!(ctx.endpoint(Role::Push), None);
}

/// A failed start releases what it bound: the address can be bound again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_releases_its_addresses() {
    let (tx, _events) = events();
    let raw_pub = Raw::bind(zmq::PUB);
    let runner = runner(tx, &raw_pub);
    runner.with_service(|s| s.fail_next_start = true);
    // Take a free port from the system, then let the service bind exactly it.
    let probe = Raw::bind(zmq::PUB);
    let endpoint = probe.endpoint.clone();
    drop(probe);
    let runner = runner.with_address(Role::Pub, endpoint.clone());
    runner.start().await.expect_err("on_start fails");
    let again = Raw::bind_at(zmq::PUB, &endpoint);
    assert_eq!(again.endpoint, endpoint);
}

/// `on_stop` waits for the test, so the service stays `stopping` as long as the test needs.
#[service(name = "SlowStop", stats_interval = "off")]
struct SlowStop {
    tx: Tx,
    release: Option<tokio::sync::oneshot::Receiver<()>>,
}

#[handlers]
impl SlowStop {
    #[on_stop]
    async fn stopping(&mut self) {
        self.tx.note("on_stop");
        if let Some(release) = self.release.take() {
            let _ = release.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_while_stopping_is_an_error() {
    let (tx, mut events) = events();
    let (release, released) = tokio::sync::oneshot::channel();
    let runner = Arc::new(Runner::new(SlowStop {
        tx,
        release: Some(released),
    }));
    runner.start().await.expect("start");
    let stopper = tokio::spawn({
        let runner = Arc::clone(&runner);
        async move { runner.stop().await }
    });
    assert_eq!(events.expect("on_stop").await.what, "on_stop");
    assert_eq!(runner.state(), State::Stopping);
    let error = runner.start().await.expect_err("start while stopping");
    assert!(
        matches!(
            &error,
            Error::InvalidState {
                operation: "start",
                state: State::Stopping,
                ..
            }
        ),
        "{error}"
    );
    // Another stop meanwhile just waits for the same stop.
    let second = tokio::spawn({
        let runner = Arc::clone(&runner);
        async move { runner.stop().await }
    });
    release.send(()).unwrap();
    stopper.await.unwrap();
    second.await.unwrap();
    assert_eq!(runner.state(), State::Stopped);
    runner.start().await.expect("start again once stopped");
    runner.stop().await;
    assert_eq!(runner.state(), State::Stopped);
}
