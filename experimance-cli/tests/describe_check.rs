//! End-to-end tests of `describe` (against real `#[service]`s running in the test process,
//! bound on system-chosen loopback ports) and `check` (on hand-written description files,
//! and on what `describe` wrote). Synchronisation is by the services' own answers; never by
//! sleeping.

mod common;

use std::path::PathBuf;

use common::*;
use experimance::{handlers, service, Role, Runner, ServiceDescription};
use predicates::prelude::*;
use predicates::str::contains;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct EraChanged {
    #[allow(dead_code)]
    era: String,
}

/// Publishes `era` (declared), plus its heartbeat.
#[service(
    name = "Producer",
    pub = "tcp://127.0.0.1:*",
    publishes = ["era"],
    heartbeat = "producer.heartbeat",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct Producer;

#[handlers]
impl Producer {}

/// Subscribes to `era` on the producer (its address is given at start), publishes `ack`.
#[service(
    name = "Consumer",
    pub = "tcp://127.0.0.1:*",
    sub = "tcp://127.0.0.1:1",
    publishes = ["ack"],
    heartbeat = "consumer.heartbeat",
    heartbeat_interval = "100ms",
    stats_interval = "off"
)]
struct Consumer;

#[handlers]
impl Consumer {
    #[topic("era")]
    async fn on_era(&mut self, _msg: EraChanged) {}
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// A path in the target's scratch directory, unique to this process and `name`.
fn scratch(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("experimance-{}-{name}", std::process::id()))
}

/// Writes `content` into a scratch file and returns its path.
fn file(name: &str, content: &str) -> String {
    let path = scratch(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs the binary off the async runtime's threads.
async fn run_blocking(args: Vec<String>) -> assert_cmd::assert::Assert {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, "")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_prints_a_running_services_description() {
    let runner = Runner::new(Producer).with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let endpoint = runner.endpoint(Role::Pub).expect("bound");

    let assert = run_blocking(vec!["describe".into(), endpoint.clone()]).await;
    let stdout = stdout_of(&assert);
    assert.success();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    let printed = parse(lines[0]);
    assert_eq!(printed["type"], "ServiceDescription");
    assert_eq!(printed["name"], "Producer");
    assert_eq!(printed["publishes"], json!(["era", "producer.heartbeat"]));
    assert_eq!(printed["heartbeat_interval"], 0.1);
    assert_eq!(printed["sockets"][0]["endpoint"], endpoint.as_str());
    let description: ServiceDescription = serde_json::from_value(printed).unwrap();
    assert_eq!(description, runner.describe().unwrap());

    // --pretty: the same, indented.
    let assert = run_blocking(vec!["describe".into(), endpoint.clone(), "--pretty".into()]).await;
    let stdout = stdout_of(&assert);
    assert.success();
    assert!(
        stdout.starts_with("{\n  \"type\": \"ServiceDescription\",\n"),
        "{stdout}"
    );
    let description: ServiceDescription = serde_json::from_str(&stdout).unwrap();
    assert_eq!(description, runner.describe().unwrap());
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_several_into_a_file_then_check_finds_them_clean() {
    let producer = Runner::new(Producer).with_address(Role::Pub, ANY_PORT);
    producer.start().await.expect("start producer");
    let producer_pub = producer.endpoint(Role::Pub).expect("bound");
    let consumer = Runner::new(Consumer)
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Sub, producer_pub.clone());
    consumer.start().await.expect("start consumer");
    let consumer_pub = consumer.endpoint(Role::Pub).expect("bound");

    let out = scratch("installation.json");
    let out_arg = out.to_str().unwrap().to_owned();
    run_blocking(vec![
        "describe".into(),
        consumer_pub,
        format!(">{producer_pub}"),
        "--out".into(),
        out_arg.clone(),
    ])
    .await
    .success()
    .stdout("");
    let written = parse(&std::fs::read_to_string(&out).unwrap());
    let all: Vec<ServiceDescription> = serde_json::from_value(written).unwrap();
    assert_eq!(
        all,
        [consumer.describe().unwrap(), producer.describe().unwrap()],
        "in ADDR order"
    );
    assert_eq!(all[0].subscriptions, ["era"]);

    // The consumer's SUB connects to the producer's PUB, and `era` is published: clean.
    run_blocking(vec!["check".into(), out_arg.clone()])
        .await
        .success()
        .stdout("")
        .stderr(contains("2 service(s), no problems found"));

    // The consumer alone subscribes to a topic nobody publishes, on an address no PUB binds.
    let alone = file(
        "consumer-alone.json",
        &serde_json::to_string(&consumer.describe().unwrap()).unwrap(),
    );
    let assert = run_blocking(vec!["check".into(), alone]).await.code(1);
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("error: unpublished-topic: Consumer subscribes to \"era\""));
    assert!(lines[1].starts_with("warning: sub-without-pub: Consumer's SUB connects to"));

    consumer.stop().await;
    producer.stop().await;
    let _ = std::fs::remove_file(&out);
}

/// A running Producer, and a running Consumer whose SUB connects to `sub(producer's PUB)`;
/// each with its PUB endpoint.
async fn producer_and_consumer(
    sub: impl FnOnce(&str) -> Vec<String>,
) -> (Runner<Producer>, String, Runner<Consumer>, String) {
    let producer = Runner::new(Producer).with_address(Role::Pub, ANY_PORT);
    producer.start().await.expect("start producer");
    let producer_pub = producer.endpoint(Role::Pub).expect("bound");
    let consumer = Runner::new(Consumer)
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Sub, sub(&producer_pub));
    consumer.start().await.expect("start consumer");
    let consumer_pub = consumer.endpoint(Role::Pub).expect("bound");
    (producer, producer_pub, consumer, consumer_pub)
}

/// A SUB connected to two publishers, one of which is not there: the description lists both
/// endpoints, `describe` takes its ADDRs comma-separated, and `check` judges each endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_check_understand_several_endpoints_per_socket() {
    let missing = format!(
        "ipc://{}/experimance-cli-nobody-{}.sock",
        std::env::temp_dir().display(),
        std::process::id()
    );
    let (producer, producer_pub, consumer, consumer_pub) =
        producer_and_consumer(|producer_pub| vec![producer_pub.to_owned(), missing.clone()]).await;

    let out = scratch("several-endpoints.json");
    let out_arg = out.to_str().unwrap().to_owned();
    run_blocking(vec![
        "describe".into(),
        format!("{consumer_pub},>{producer_pub}"),
        "--out".into(),
        out_arg.clone(),
    ])
    .await
    .success();
    let all: Vec<ServiceDescription> =
        serde_json::from_value(parse(&std::fs::read_to_string(&out).unwrap())).unwrap();
    let subs: Vec<&str> = all[0]
        .sockets
        .iter()
        .filter(|s| s.role == "sub")
        .map(|s| s.address.as_str())
        .collect();
    assert_eq!(subs, [producer_pub.as_str(), missing.as_str()]);

    let assert = run_blocking(vec!["check".into(), out_arg]).await.code(1);
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the missing endpoint: {stdout}");
    assert!(
        lines[0].starts_with("warning: sub-without-pub: Consumer's SUB connects to")
            && lines[0].contains(&missing),
        "{stdout}"
    );
    consumer.stop().await;
    producer.stop().await;
    let _ = std::fs::remove_file(&out);
}

/// `services` lists the services at PUB endpoints with their sockets and topics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lists_each_service_with_its_sockets() {
    let (producer, producer_pub, consumer, consumer_pub) =
        producer_and_consumer(|producer_pub| vec![producer_pub.to_owned()]).await;

    let assert = run_blocking(vec![
        "services".into(),
        format!("{producer_pub},{consumer_pub}"),
        "--json".into(),
    ])
    .await
    .success();
    let services = parse(&stdout_of(&assert));
    assert_eq!(services[0]["name"], "Producer");
    assert_eq!(services[1]["name"], "Consumer");
    assert_eq!(
        services[1]["sockets"],
        json!([
            {"role": "pub", "direction": "bind", "endpoint": consumer_pub},
            {"role": "sub", "direction": "connect", "endpoint": producer_pub},
        ])
    );
    assert_eq!(services[1]["subscriptions"], json!(["era"]));
    let assert = run_blocking(vec!["services".into(), producer_pub.clone()])
        .await
        .success();
    let table = stdout_of(&assert);
    assert!(
        table.starts_with("Producer (publisher)\n  PUB  bind"),
        "{table}"
    );
    assert!(
        table.contains("  publishes:  era, producer.heartbeat"),
        "{table}"
    );
    consumer.stop().await;
    producer.stop().await;
}

#[test]
fn describe_times_out_with_1_against_a_publisher_that_never_answers() {
    let ctx = zmq::Context::new();
    let (_publisher, endpoint) = bound(&ctx, zmq::PUB);
    run(&["describe", &endpoint, "--timeout", "200ms"], "")
        .code(1)
        .stdout("")
        .stderr(contains("no description from").and(contains(endpoint.as_str())));
}

#[test]
fn describe_rejects_something_that_is_not_a_description_with_1() {
    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let describe = spawn(&["describe", &endpoint]);
    await_subscription(&publisher);
    publisher
        .send(r#"experimance.description {"type": "Heartbeat"}"#, 0)
        .unwrap();
    let done = describe.finish();
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr.contains("not a service description"),
        "{done:?}"
    );
}

#[test]
fn describe_bad_address_exits_2() {
    run(&["describe", "localhost:5555"], "")
        .code(2)
        .stderr(contains("bad address"));
}

/// A description, written by hand as the runtime would.
fn description(
    name: &str,
    sockets: &[(&str, &str, &str)],
    subscriptions: &[&str],
    handlers: &[(&str, &str)],
    publishes: &[&str],
) -> Value {
    let has_pub = sockets.iter().any(|(role, _, _)| *role == "pub");
    let heartbeat = format!("{}.heartbeat", name.to_lowercase());
    let mut publishes: Vec<String> = publishes.iter().map(|t| (*t).to_owned()).collect();
    if has_pub {
        publishes.push(heartbeat.clone());
    }
    json!({
        "type": "ServiceDescription",
        "name": name,
        "service_type": "service",
        "sockets": sockets.iter().map(|(role, direction, address)| json!({
            "role": role, "address": address, "direction": direction, "endpoint": null
        })).collect::<Vec<_>>(),
        "subscriptions": subscriptions,
        "handlers": handlers.iter().map(|(topic, ty)| json!({
            "kind": "topic", "topic": topic, "message_type": ty
        })).collect::<Vec<_>>(),
        "publishes": publishes,
        "heartbeat_topic": has_pub.then_some(heartbeat),
        "heartbeat_interval": 5.0,
        "watch": []
    })
}

/// A small installation that fits together: a core publishing `era` and pushing render
/// requests, a display subscribing to `era` and the image server's heartbeat, an image
/// server pulling requests.
fn clean_installation() -> Vec<Value> {
    vec![
        description(
            "Core",
            &[
                ("pub", "bind", "tcp://*:5555"),
                ("push", "bind", "tcp://*:5556"),
            ],
            &[],
            &[],
            &["era", "era.changed"],
        ),
        description(
            "Display",
            &[
                ("pub", "bind", "tcp://*:5560"),
                ("sub", "connect", "tcp://localhost:5555"),
                ("sub", "connect", "tcp://127.0.0.1:5561"),
            ],
            &["era", "imageserver.heartbeat"],
            &[("era", "EraChanged")],
            &[],
        ),
        description(
            "ImageServer",
            &[
                ("pub", "bind", "tcp://0.0.0.0:5561"),
                ("pull", "connect", "tcp://localhost:5556"),
            ],
            &[],
            &[],
            &[],
        ),
    ]
}

#[test]
fn check_a_clean_installation_exits_0() {
    let [core, display, image] = <[Value; 3]>::try_from(clean_installation()).unwrap();
    // One object per file, an array, and JSON lines on stdin: all the same to `check`.
    let core_file = file("clean-core.json", &core.to_string());
    let array_file = file("clean-array.json", &json!([display]).to_string());
    run(
        &["check", &core_file, &array_file, "-"],
        &format!("{image}\n"),
    )
    .success()
    .stdout("")
    .stderr(contains("3 service(s), no problems found"));
    let assert = run(
        &["check", &core_file, &array_file, "-", "--json"],
        &image.to_string(),
    );
    let stdout = stdout_of(&assert);
    assert.success();
    assert_eq!(
        parse(&stdout),
        json!({"services": ["Core", "Display", "ImageServer"], "errors": 0, "warnings": 0,
               "findings": []})
    );
}

#[test]
fn check_reports_every_kind_of_problem() {
    let mut installation = clean_installation();
    installation.extend([
        // Subscribes to a topic nobody publishes; its PULL binds, nobody pushes there; its
        // SUB connects where no PUB binds; its PUB binds the port Core's PUB binds.
        description(
            "Audio",
            &[
                ("pub", "bind", "tcp://127.0.0.1:5555"),
                ("sub", "connect", "tcp://localhost:5599"),
                ("pull", "bind", "tcp://*:5570"),
            ],
            &["weather", "era"],
            &[("era", "audio::EraEvent")],
            &[],
        ),
        // Takes `era` as another type than Display; pushes where no PULL is.
        description(
            "Logger",
            &[
                ("sub", "connect", "tcp://localhost:5555"),
                ("push", "connect", "tcp://localhost:5580"),
            ],
            &["era"],
            &[("era", "shared::EraChanged")],
            &[],
        ),
    ]);
    let path = file("problems.json", &Value::Array(installation).to_string());
    let assert = run(&["check", &path], "").code(1);
    let stdout = stdout_of(&assert);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "error: unpublished-topic: Audio subscribes to \"weather\", but no service publishes a topic starting with it",
            "error: pull-without-push: Audio's PULL binds tcp://*:5570, but no PUSH connects to it",
            "warning: push-without-pull: Logger's PUSH connects to tcp://localhost:5580, an address no PULL binds",
            "warning: sub-without-pub: Audio's SUB connects to tcp://localhost:5599, an address no PUB binds",
            "error: duplicate-bind: Core's PUB and Audio's PUB both bind port 5555: tcp://*:5555 and tcp://127.0.0.1:5555",
            "error: type-mismatch: services disagree on the message type of topic \"era\": EraChanged / shared::EraChanged (Display, Logger) vs audio::EraEvent (Audio)",
        ],
        "{stdout}"
    );
    assert.stderr(contains(
        "6 problem(s) in 5 service(s): 4 error(s), 2 warning(s)",
    ));

    let assert = run(&["check", &path, "--json"], "").code(1);
    let report = parse(&stdout_of(&assert));
    assert_eq!(report["errors"], 4);
    assert_eq!(report["warnings"], 2);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 6);
    assert_eq!(
        findings[0],
        json!({
            "severity": "error", "kind": "unpublished-topic", "services": ["Audio"],
            "topic": "weather",
            "message": "Audio subscribes to \"weather\", but no service publishes a topic starting with it"
        })
    );
    assert_eq!(findings[4]["services"], json!(["Core", "Audio"]));
    assert_eq!(
        findings[4]["addresses"],
        json!(["tcp://*:5555", "tcp://127.0.0.1:5555"])
    );
    assert_eq!(
        findings[5]["services"],
        json!(["Display", "Logger", "Audio"])
    );
    assert_eq!(findings[5]["topic"], "era");
}

#[test]
fn check_pull_connecting_without_push_and_a_duplicate_name() {
    let worker = description(
        "Worker",
        &[("pull", "connect", "tcp://render-host:5556")],
        &[],
        &[],
        &[],
    );
    // A PUSH bound on `*` listens on every interface of its machine: it reaches a PULL
    // connecting to any host on its port, but not on another port.
    let pusher = description("Pusher", &[("push", "bind", "tcp://*:5557")], &[], &[], &[]);
    let path = file("pull.json", &json!([worker, pusher, worker]).to_string());
    let assert = run(&["check", &path], "").code(1);
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "warning: duplicate-name: 2 descriptions are of a service named Worker (the same description given twice?)"
    );
    assert_eq!(
        lines[1],
        "error: pull-without-push: Worker's PULL connects to tcp://render-host:5556, an address no PUSH binds"
    );

    let pusher = description("Pusher", &[("push", "bind", "tcp://*:5556")], &[], &[], &[]);
    let path = file("pull-ok.json", &json!([worker, pusher]).to_string());
    run(&["check", &path], "").success().stdout("");
}

#[test]
fn check_bad_files_exit_2() {
    run(&["check", "/nonexistent/description.json"], "")
        .code(2)
        .stderr(contains("cannot read `/nonexistent/description.json`"));
    let broken = file(
        "broken.json",
        "{\"type\": \"ServiceDescription\", \"name\": ",
    );
    run(&["check", &broken], "")
        .code(2)
        .stderr(contains(broken.as_str()).and(contains("EOF while parsing")));
    let incomplete = file(
        "incomplete.json",
        "{\"type\": \"ServiceDescription\", \"name\": \"A\"}",
    );
    run(&["check", &incomplete], "")
        .code(2)
        .stderr(contains(incomplete.as_str()).and(contains("missing field")));
    run(&["check", "-"], "{\"type\": \"Heartbeat\"}")
        .code(2)
        .stderr(contains("standard input"));
    run(&["check", "-"], "")
        .code(2)
        .stderr(contains("no service description"));
    run(&["check"], "").code(2);
}

/// A handler description that takes a wire type, with a JSON Schema.
fn typed_handler(kind: &str, wire_type: &str, schema: Value) -> Value {
    json!({
        "kind": kind, "topic": (kind == "topic").then_some(wire_type),
        "message_type": wire_type, "wire_types": [wire_type], "schema": schema
    })
}

#[test]
fn check_compares_the_schemas_of_wire_types_and_finds_tasks_nobody_sends() {
    let old = json!({"type": "object", "properties": {"prompt": {"type": "string"}}});
    let new = json!({"type": "object", "properties": {"prompt": {"type": "string"},
                                                       "width": {"type": "integer"}}});
    let mut core = description(
        "Core",
        &[("push", "bind", "tcp://*:5564")],
        &[],
        &[],
        &["RenderRequest"],
    );
    core["handlers"] = json!([]);
    let mut server = description(
        "ImageServer",
        &[("pull", "connect", "tcp://localhost:5564")],
        &[],
        &[],
        &[],
    );
    server["handlers"] = json!([
        typed_handler("task", "RenderRequest", new.clone()),
        typed_handler("task", "Cancel", json!({"type": "object"})),
    ]);
    let mut old_server = description(
        "OldImageServer",
        &[("pull", "connect", "tcp://localhost:5564")],
        &[],
        &[],
        &[],
    );
    old_server["handlers"] = json!([typed_handler("task", "RenderRequest", old)]);
    // The same schema with a title and descriptions (doc comments) agrees with `new`.
    let mut documented = description(
        "DocumentedImageServer",
        &[("pull", "connect", "tcp://localhost:5564")],
        &[],
        &[],
        &[],
    );
    let mut described = new.clone();
    described["title"] = json!("RenderRequest");
    described["properties"]["prompt"]["description"] = json!("What to draw.");
    documented["handlers"] = json!([typed_handler("task", "RenderRequest", described)]);
    let path = file(
        "schemas.json",
        &Value::Array(vec![core, server, documented, old_server]).to_string(),
    );
    let assert = run(&["check", &path], "").code(1);
    let stdout = stdout_of(&assert);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "error: schema-mismatch: services disagree on the schema of type \"RenderRequest\": ImageServer's differs from OldImageServer's",
            "warning: unpublished-type: ImageServer has a #[task] handler for type \"Cancel\" (Cancel), but no service declares it in `publishes`",
        ],
        "{stdout}"
    );
}
