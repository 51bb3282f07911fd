//! Every role of the Python base library (issue 3), over real sockets: PUB only, SUB only,
//! PUSH only, PULL only, PUB+SUB, controller (all four), worker (SUB+PULL+PUSH), no sockets
//! (background tasks only), and a pool of one controller and three workers.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    events, relay, serve_pub, serve_pub_push, serve_push, split, sync_raw_sub, sync_service_sub,
    text, Inlet, Outlet, Raw, Tx, ANY_PORT, PROBE_WAIT,
};
use experimance::{handlers, service, Context, Role, Runner, State};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

fn assert_endpoints<S: experimance::Service>(runner: &Runner<S>, present: &[Role]) {
    for role in Role::ALL {
        assert_eq!(
            runner.endpoint(role).is_some(),
            present.contains(&role),
            "{role} endpoint of {}",
            runner.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PUB only (ZmqPublisherService)
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "inproc://overridden-by-the-test",
    heartbeat = "pubonly.hb",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct PubOnly {
    relay: Option<Inlet>,
}

#[handlers]
impl PubOnly {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.relay.take().expect("relay"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_only() {
    let (outlet, inlet) = relay();
    let runner = Runner::new(PubOnly { relay: Some(inlet) }).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[Role::Pub]);
    let mut raw = Raw::sub(
        &runner.endpoint(Role::Pub).unwrap(),
        &["probe", "era", "EraChanged"],
    );
    sync_raw_sub(&outlet, &mut raw).await;

    outlet
        .publish(json!({"type": "EraChanged", "era": "modern"}))
        .await
        .unwrap();
    outlet
        .publish_to("era", json!({"era": "future"}))
        .await
        .unwrap();
    let (topic, body) = split(&raw.recv().await);
    assert_eq!(
        (topic.as_str(), body),
        ("EraChanged", json!({"type": "EraChanged", "era": "modern"}))
    );
    assert_eq!(text(&raw.recv().await), r#"era {"era":"future"}"#);
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// SUB only (ZmqSubscriberService)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct IdleStatus {
    idle: bool,
}

#[service(sub = "inproc://overridden-by-the-test", stats_interval = "off")]
struct SubOnly {
    tx: Tx,
}

#[handlers]
impl SubOnly {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("idle")]
    async fn idle(&mut self, msg: IdleStatus) {
        self.tx.send("idle", "idle", json!(msg.idle));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_only() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUB);
    let runner = Runner::new(SubOnly { tx }).with_address(Role::Sub, raw.endpoint.clone());
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[Role::Sub]);
    sync_service_sub(&mut raw, &mut events).await;
    raw.send(r#"idle {"type": "IdleStatus", "idle": true}"#)
        .await;
    raw.send(r#"idle {"type": "IdleStatus", "idle": false}"#)
        .await;
    assert_eq!(events.expect("idle").await.body, json!(true));
    assert_eq!(events.expect("idle").await.body, json!(false));
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// PUSH only (ZmqPushService)
// ---------------------------------------------------------------------------------------------

#[service(push = "inproc://overridden-by-the-test", stats_interval = "off")]
struct PushOnly {
    relay: Option<Inlet>,
}

#[handlers]
impl PushOnly {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_push(ctx, self.relay.take().expect("relay"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_only() {
    let (outlet, inlet) = relay();
    let runner = Runner::new(PushOnly { relay: Some(inlet) }).with_address(Role::Push, ANY_PORT);
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[Role::Push]);

    // A push with no puller connected waits for one; the task is not dropped.
    let first = tokio::spawn({
        let outlet = outlet.clone();
        async move { outlet.push(json!({"id": 0})).await }
    });
    let mut raw = Raw::connect(zmq::PULL, &runner.endpoint(Role::Push).unwrap());
    assert_eq!(text(&raw.recv().await), r#"{"id":0}"#);
    first.await.unwrap().expect("first push");

    for id in 1..=5 {
        outlet.push(json!({ "id": id })).await.expect("push");
    }
    for id in 1..=5 {
        assert_eq!(text(&raw.recv().await), format!(r#"{{"id":{id}}}"#));
    }
    runner.stop().await;
    assert_eq!(runner.stats().messages_sent, 6);
}

// ---------------------------------------------------------------------------------------------
// PULL only (ZmqPullService)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Serialize)]
struct RenderRequest {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    prompt: String,
}

#[service(pull = "inproc://overridden-by-the-test", stats_interval = "off")]
struct PullOnly {
    tx: Tx,
}

#[handlers]
impl PullOnly {
    #[task]
    async fn render(&mut self, request: RenderRequest) {
        self.tx
            .send("render", "", serde_json::to_value(&request).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_only() {
    let (tx, mut events) = events();
    let mut raw = Raw::bind(zmq::PUSH);
    let runner = Runner::new(PullOnly { tx }).with_address(Role::Pull, raw.endpoint.clone());
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[Role::Pull]);
    for id in 0..5 {
        raw.send(format!(
            r#"{{"type": "RenderRequest", "id": {id}, "prompt": "p{id}"}}"#
        ))
        .await;
    }
    for id in 0..5 {
        assert_eq!(
            events.expect("render").await.body,
            json!({"type": "RenderRequest", "id": id, "prompt": format!("p{id}")})
        );
    }
    runner.stop().await;
    assert_eq!(runner.stats().messages_received, 5);
}

// ---------------------------------------------------------------------------------------------
// PUB + SUB (ZmqPublisherSubscriberService)
// ---------------------------------------------------------------------------------------------

#[service(
    pub = "inproc://overridden-by-the-test",
    sub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct PubSub {
    tx: Tx,
    relay: Option<Inlet>,
}

#[handlers]
impl PubSub {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub(ctx, self.relay.take().expect("relay"));
    }

    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "probe", msg);
    }

    #[topic("ping")]
    async fn ping(&mut self, msg: Value, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        ctx.publish_to("pong", &json!({ "n": msg["n"] })).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_and_sub() {
    let (tx, mut events) = events();
    let (outlet, inlet) = relay();
    let mut raw_pub = Raw::bind(zmq::PUB);
    let runner = Runner::new(PubSub {
        tx,
        relay: Some(inlet),
    })
    .with_address(Role::Pub, ANY_PORT)
    .with_address(Role::Sub, raw_pub.endpoint.clone());
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[Role::Pub, Role::Sub]);
    let mut raw_sub = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["probe", "pong"]);
    sync_raw_sub(&outlet, &mut raw_sub).await;
    sync_service_sub(&mut raw_pub, &mut events).await;

    for n in 0..5 {
        raw_pub.send(format!(r#"ping {{"n": {n}}}"#)).await;
        assert_eq!(text(&raw_sub.recv().await), format!(r#"pong {{"n":{n}}}"#));
    }
    runner.stop().await;
    assert_eq!(runner.stats().errors, 0);
}

// ---------------------------------------------------------------------------------------------
// Controller (all four) and worker (SUB + PULL + PUSH)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Serialize)]
struct Command {
    #[serde(rename = "type")]
    kind: String,
    factor: i64,
}

#[derive(Debug, Deserialize, Serialize)]
struct Task {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    value: i64,
}

#[derive(Debug, Deserialize, Serialize)]
struct Response {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    worker: String,
    result: i64,
}

/// ZmqControllerService: publishes commands, subscribes to worker status, pushes tasks, pulls
/// worker responses.
#[service(
    name = "Controller",
    pub = "inproc://overridden-by-the-test",
    sub = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    pull = "@inproc://overridden-by-the-test",
    topics = ["probe", "status"],
    heartbeat = "controller.hb",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Controller {
    tx: Tx,
    relay: Option<Inlet>,
}

#[handlers]
impl Controller {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        serve_pub_push(ctx, self.relay.take().expect("relay"));
    }

    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", "controller", msg);
    }

    #[topic("status")]
    async fn worker_status(&mut self, status: Value) {
        self.tx.send("status", "controller", status);
    }

    /// `_handle_worker_response` of the Python controller.
    #[task]
    async fn handle_worker_response(&mut self, response: Response) {
        self.tx.send(
            "response",
            &response.worker.clone(),
            serde_json::to_value(&response).unwrap(),
        );
    }
}

/// A running controller; its PULL binds (`@`), its SUB connects to `status_bus`.
async fn controller(status_bus: &str) -> (Runner<Controller>, Outlet, common::Events) {
    let (tx, events) = events();
    let (outlet, inlet) = relay();
    let runner = Runner::new(Controller {
        tx,
        relay: Some(inlet),
    })
    .with_address(Role::Pub, ANY_PORT)
    .with_address(Role::Sub, status_bus)
    .with_address(Role::Push, ANY_PORT)
    .with_address(Role::Pull, format!("@{ANY_PORT}"));
    runner.start().await.expect("start controller");
    (runner, outlet, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_has_all_four_sockets() {
    let mut raw_status = Raw::bind(zmq::PUB);
    let (runner, outlet, mut events) = controller(&raw_status.endpoint).await;
    assert_endpoints(&runner, &Role::ALL);

    // PUB → raw SUB: a command.
    let mut raw_sub = Raw::sub(&runner.endpoint(Role::Pub).unwrap(), &["probe", "command"]);
    sync_raw_sub(&outlet, &mut raw_sub).await;
    outlet
        .publish_to("command", json!({"type": "Command", "factor": 2}))
        .await
        .unwrap();
    let (topic, body) = split(&raw_sub.recv().await);
    assert_eq!(
        (topic.as_str(), body),
        ("command", json!({"type": "Command", "factor": 2}))
    );

    // Raw PUB → SUB: a worker status.
    sync_service_sub(&mut raw_status, &mut events).await;
    raw_status
        .send(r#"status {"type": "WorkerStatus", "worker": "w", "busy": false}"#)
        .await;
    assert_eq!(
        events.expect("status").await.body,
        json!({"type": "WorkerStatus", "worker": "w", "busy": false})
    );

    // PUSH → raw PULL: a task.
    let mut raw_pull = Raw::connect(zmq::PULL, &runner.endpoint(Role::Push).unwrap());
    outlet
        .push(json!({"type": "Task", "id": 1, "value": 2}))
        .await
        .unwrap();
    let task: Value = serde_json::from_slice(&raw_pull.recv().await).unwrap();
    assert_eq!(task, json!({"type": "Task", "id": 1, "value": 2}));

    // Raw PUSH → PULL (bound with `@`): a worker response.
    let mut raw_push = Raw::connect(zmq::PUSH, &runner.endpoint(Role::Pull).unwrap());
    raw_push
        .send(r#"{"type": "Response", "id": 1, "worker": "raw", "result": 4}"#)
        .await;
    let event = events.expect("response").await;
    assert_eq!(event.topic, "raw");
    assert_eq!(
        event.body,
        json!({"type": "Response", "id": 1, "worker": "raw", "result": 4})
    );
    runner.stop().await;
    assert_eq!(runner.stats().errors, 0);
}

/// ZmqWorkerService: subscribes to commands, pulls tasks, pushes responses.
#[service(
    name = "Worker",
    sub = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    topics = ["probe", "command"],
    stats_interval = "off"
)]
struct Worker {
    id: String,
    tx: Tx,
    factor: i64,
}

#[handlers]
impl Worker {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        self.tx.send("probe", &self.id, msg);
    }

    #[topic("command")]
    async fn command(&mut self, command: Command) {
        self.factor = command.factor;
        self.tx.send("command", &self.id, json!(command.factor));
    }

    #[task]
    async fn work(&mut self, task: Task, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        self.tx.send("worked", &self.id, json!(task.id));
        ctx.push(&Response {
            kind: "Response".to_owned(),
            id: task.id,
            worker: self.id.clone(),
            result: task.value * self.factor,
        })
        .await
    }
}

/// A running worker connected to the controller's (or raw peers') `pub`, `push` and `pull`.
async fn worker(id: &str, tx: Tx, commands: &str, tasks: &str, responses: &str) -> Runner<Worker> {
    let runner = Runner::new(Worker {
        id: id.to_owned(),
        tx,
        factor: 1,
    })
    .with_name(id)
    .with_address(Role::Sub, commands)
    .with_address(Role::Pull, tasks)
    .with_address(Role::Push, format!(">{responses}"));
    runner.start().await.expect("start worker");
    runner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_has_sub_pull_and_push() {
    let (tx, mut events) = events();
    let mut raw_commands = Raw::bind(zmq::PUB);
    let mut raw_tasks = Raw::bind(zmq::PUSH);
    let mut raw_responses = Raw::bind(zmq::PULL);
    let runner = worker(
        "solo",
        tx,
        &raw_commands.endpoint,
        &raw_tasks.endpoint,
        &raw_responses.endpoint,
    )
    .await;
    assert_endpoints(&runner, &[Role::Sub, Role::Push, Role::Pull]);

    sync_service_sub(&mut raw_commands, &mut events).await;
    raw_commands
        .send(r#"command {"type": "Command", "factor": 10}"#)
        .await;
    assert_eq!(events.expect("command").await.body, json!(10));

    raw_tasks
        .send(r#"{"type": "Task", "id": 7, "value": 4}"#)
        .await;
    assert_eq!(events.expect("worked").await.body, json!(7));
    let response: Value = serde_json::from_slice(&raw_responses.recv().await).unwrap();
    assert_eq!(
        response,
        json!({"type": "Response", "id": 7, "worker": "solo", "result": 40})
    );
    runner.stop().await;
    let stats = runner.stats();
    assert_eq!((stats.messages_sent, stats.errors), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_of_one_controller_and_three_workers() {
    const TASKS: u64 = 60;
    const FACTOR: i64 = 3;
    let raw_status = Raw::bind(zmq::PUB);
    let (controller, outlet, mut events) = controller(&raw_status.endpoint).await;
    let commands = controller.endpoint(Role::Pub).unwrap();
    let tasks = controller.endpoint(Role::Push).unwrap();
    let responses = controller.endpoint(Role::Pull).unwrap();

    // The workers report into the controller's event channel.
    let (worker_tx, mut worker_events) = common::events();
    let ids = ["worker-1", "worker-2", "worker-3"];
    let mut workers = Vec::new();
    for id in ids {
        workers.push(worker(id, worker_tx.clone(), &commands, &tasks, &responses).await);
    }

    // Publish probes until every worker's subscription is live.
    let mut live = BTreeSet::new();
    let mut n = 0;
    while live.len() < ids.len() {
        n += 1;
        assert!(n < 100, "workers {live:?} of {ids:?} ever got a probe");
        outlet.publish_to("probe", json!({ "n": n })).await.unwrap();
        while let Some(event) = worker_events.within(PROBE_WAIT).await {
            assert_eq!(event.what, "probe", "{event:?}");
            live.insert(event.topic);
        }
    }

    // A command reaches every worker.
    outlet
        .publish_to("command", json!({"type": "Command", "factor": FACTOR}))
        .await
        .unwrap();
    let mut commanded = BTreeSet::new();
    while commanded.len() < ids.len() {
        let event = worker_events.expect("command").await;
        assert_eq!(event.body, json!(FACTOR));
        assert!(commanded.insert(event.topic.clone()), "{event:?} twice");
    }

    for id in 0..TASKS {
        outlet
            .push(json!({"type": "Task", "id": id, "value": id}))
            .await
            .expect("push task");
    }

    // Every response comes back to the controller, once.
    let mut responses_by_id = BTreeMap::new();
    while responses_by_id.len() < TASKS as usize {
        let event = events.expect("response").await;
        let response: Response = serde_json::from_value(event.body).unwrap();
        assert_eq!(response.result, response.id as i64 * FACTOR);
        assert!(ids.contains(&response.worker.as_str()), "{response:?}");
        let previous = responses_by_id.insert(response.id, response.worker.clone());
        assert!(
            previous.is_none(),
            "response {} came back twice",
            response.id
        );
    }
    assert_eq!(
        responses_by_id.keys().copied().collect::<Vec<_>>(),
        (0..TASKS).collect::<Vec<_>>()
    );

    for worker in &workers {
        worker.stop().await;
    }
    controller.stop().await;

    // Every task was processed exactly once, by the worker that answered it.
    let mut processed = BTreeMap::new();
    for event in worker_events.drain_now() {
        if event.what == "worked" {
            let id = event.body.as_u64().unwrap();
            assert!(
                processed.insert(id, event.topic.clone()).is_none(),
                "task {id} processed twice"
            );
        }
    }
    assert_eq!(processed, responses_by_id);
    let pushed: u64 = workers.iter().map(|w| w.stats().messages_sent).sum();
    assert_eq!(pushed, TASKS, "one response per task");
    assert_eq!(controller.stats().messages_received, TASKS);
    assert_eq!(controller.stats().errors, 0);
    for worker in &workers {
        assert_eq!(worker.stats().errors, 0);
        assert_eq!(worker.state(), State::Stopped);
    }
    let per_worker: BTreeMap<&String, usize> =
        processed.values().fold(BTreeMap::new(), |mut m, w| {
            *m.entry(w).or_default() += 1;
            m
        });
    println!("tasks per worker: {per_worker:?}");
}

// ---------------------------------------------------------------------------------------------
// No sockets (BaseService): background tasks only
// ---------------------------------------------------------------------------------------------

#[service(name = "Base", stats_interval = "off")]
struct Base {
    tx: Tx,
}

#[handlers]
impl Base {
    #[on_start]
    async fn start(&mut self, ctx: &Context<Self>) {
        let tx = self.tx.clone();
        ctx.spawn("counter", async move {
            for i in 0..3 {
                tx.send("counted", "", json!(i));
                tokio::task::yield_now().await;
            }
            Ok::<(), String>(())
        });
    }

    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) {
        assert_eq!(ctx.endpoint(Role::Pub), None);
        self.tx.note("tick");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sockets_runs_background_tasks_and_timers() {
    let (tx, mut events) = events();
    let runner = Runner::new(Base { tx });
    runner.start().await.expect("start");
    assert_endpoints(&runner, &[]);
    let mut counted = Vec::new();
    while counted.len() < 3 {
        let event = events.next().await;
        match event.what.as_str() {
            "counted" => counted.push(event.body.as_u64().unwrap()),
            "tick" => {}
            _ => panic!("{event:?}"),
        }
    }
    assert_eq!(counted, [0, 1, 2]);
    // The task ended with `Ok`: the service keeps running, its timer keeps firing.
    for _ in 0..3 {
        assert_eq!(events.next().await.what, "tick");
    }
    assert_eq!(runner.state(), State::Running);
    runner.stop().await;
    runner.wait().await.expect("clean stop");
    let stats = runner.stats();
    assert_eq!(
        (stats.messages_sent, stats.messages_received, stats.errors),
        (0, 0, 0)
    );
}

#[test]
#[should_panic(expected = "no PUB socket")]
fn an_address_for_a_missing_socket_is_a_programming_error() {
    let (tx, _events) = events();
    let _ = Runner::new(Base { tx }).with_address(Role::Pub, ANY_PORT);
}
