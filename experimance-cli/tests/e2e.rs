//! End-to-end tests of the `experimance` binary against real ZeroMQ sockets on loopback
//! ports chosen by the system. Synchronisation is by subscriptions seen on raw XPUB sockets,
//! stderr lines of the child, or resending until received; never by sleeping.

mod common;
#[path = "../../tests/common/pty.rs"]
mod pty;

use std::time::Instant;

use common::*;
use experimance_runtime::{Heartbeat, State};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{json, Value};

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn tap_prints_messages_and_shows_malformed_frames() {
    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let tap = spawn(&["tap", &endpoint, "--count", "4"]);
    await_subscription(&publisher);
    publisher
        .send(
            r#"era {"type": "EraChanged", "era": "modern", "biome": "forest"}"#,
            0,
        )
        .unwrap();
    publisher.send("no-space-here", 0).unwrap();
    publisher.send("era {oops", 0).unwrap();
    publisher.send_multipart(["a {}", "b"], 0).unwrap();
    let done = tap.finish();
    assert!(done.status.success(), "{done:?}");
    let lines = done.lines();
    assert_eq!(lines.len(), 4, "{done:?}");
    // Exactly as on the wire: key order and spacing kept.
    assert_eq!(
        lines[0],
        r#"{"topic":"era","message":{"type": "EraChanged", "era": "modern", "biome": "forest"}}"#
    );
    let no_space = parse(lines[1]);
    assert!(
        no_space["malformed"].as_str().unwrap().contains("no space"),
        "{no_space}"
    );
    assert_eq!(no_space["preview"], "no-space-here");
    let not_json = parse(lines[2]);
    assert!(
        not_json["malformed"].as_str().unwrap().contains("not JSON"),
        "{not_json}"
    );
    assert_eq!(not_json["topic"], "era");
    assert_eq!(not_json["preview"], "era {oops");
    let multi = parse(lines[3]);
    assert!(
        multi["malformed"]
            .as_str()
            .unwrap()
            .contains("more than one frame"),
        "{multi}"
    );
}

/// `tap`, `hz` and `record` listen to several publishers, given with spaces or commas.
#[test]
fn tap_and_record_take_several_addresses() {
    let ctx = zmq::Context::new();
    let (core, core_endpoint) = bound(&ctx, zmq::XPUB);
    let (agent, agent_endpoint) = bound(&ctx, zmq::XPUB);
    let tap = spawn(&["tap", &core_endpoint, &agent_endpoint, "--count", "2"]);
    await_subscription(&core);
    await_subscription(&agent);
    core.send(r#"era {"from":"core"}"#, 0).unwrap();
    agent.send(r#"speech {"from":"agent"}"#, 0).unwrap();
    let done = tap.finish();
    assert!(done.status.success(), "{done:?}");
    let mut topics: Vec<String> = done
        .lines()
        .iter()
        .map(|l| parse(l)["topic"].as_str().unwrap().to_owned())
        .collect();
    topics.sort();
    assert_eq!(topics, ["era", "speech"]);

    // Fresh publishers: the first ones still hold the tap's unsubscriptions.
    let (core, core_endpoint) = bound(&ctx, zmq::XPUB);
    let (agent, agent_endpoint) = bound(&ctx, zmq::XPUB);
    let both = format!("{core_endpoint},{agent_endpoint}");
    let record = spawn(&["record", &both, "-", "--count", "2"]);
    await_subscription(&core);
    await_subscription(&agent);
    core.send(r#"era {"n":1}"#, 0).unwrap();
    agent.send(r#"speech {"n":2}"#, 0).unwrap();
    let done = record.finish();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.lines().len(), 2, "{done:?}");
}

#[test]
fn tap_exact_topic_and_pretty() {
    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let tap = spawn(&[
        "tap", &endpoint, "-t", "era", "--exact", "--pretty", "-n", "1",
    ]);
    await_subscription(&publisher);
    publisher.send(r#"era_changed {"skip": true}"#, 0).unwrap();
    publisher.send(r#"other {"skip": true}"#, 0).unwrap();
    publisher.send(r#"era {"z": 1, "a": [1]}"#, 0).unwrap();
    let done = tap.finish();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        done.stdout,
        "{\n  \"topic\": \"era\",\n  \"message\": {\n    \"z\": 1,\n    \"a\": [\n      1\n    ]\n  }\n}\n"
    );
}

#[test]
fn publish_connects_and_waits_for_the_subscriber() {
    let ctx = zmq::Context::new();
    let (sub, endpoint) = bound(&ctx, zmq::SUB);
    sub.set_subscribe(b"era").unwrap();
    let target = format!(">{endpoint}");
    let publish = run_in_background(
        &[
            "publish",
            &target,
            "era",
            r#"{"type":"EraChanged","era":"modern"}"#,
            "--wait-ms",
            "10000",
        ],
        "",
    );
    assert_eq!(
        recv_text(&sub),
        r#"era {"type":"EraChanged","era":"modern"}"#
    );
    publish
        .join()
        .unwrap()
        .success()
        .stderr(contains("1 subscriber(s) for topic `era`"));
}

#[test]
fn publish_reads_stdin_lines() {
    let ctx = zmq::Context::new();
    let (sub, endpoint) = bound(&ctx, zmq::SUB);
    sub.set_subscribe(b"idle").unwrap();
    let target = format!(">{endpoint}");
    let publish = run_in_background(
        &["publish", &target, "idle", "-", "--wait-ms", "10000"],
        "{\"n\": 1}\n\n  {\"n\": 2}  \n",
    );
    assert_eq!(recv_text(&sub), r#"idle {"n": 1}"#);
    assert_eq!(recv_text(&sub), r#"idle {"n": 2}"#);
    publish.join().unwrap().success();
}

/// `publish ANY_PORT era {"a":1}`, waiting up to 10 s for a subscriber; and where it bound.
fn publish_era_bound() -> (Spawned, String) {
    let mut publish = spawn(&[
        "publish",
        ANY_PORT,
        "era",
        r#"{"a":1}"#,
        "--wait-ms",
        "10000",
    ]);
    let line = publish.await_stderr("PUB bound to");
    let endpoint = endpoints(&line)[0].clone();
    (publish, endpoint)
}

/// A `watch` (which subscribes to everything) is not the subscriber `publish` waits for: the
/// message still reaches the one that subscribes to its topic after the watch has joined.
#[test]
fn publish_waits_for_a_subscriber_not_for_a_watch() {
    let ctx = zmq::Context::new();
    let (publish, endpoint) = publish_era_bound();
    let mut watch = spawn(&["watch", &endpoint, "--duration", "20s", "--once"]);
    watch.await_stderr("watch: SUB");
    let subscriber = connected(&ctx, zmq::SUB, &endpoint);
    subscriber.set_subscribe(b"era").unwrap();
    assert_eq!(recv_text(&subscriber), r#"era {"a":1}"#);
    let done = publish.finish();
    assert!(done.status.success(), "{done:?}");
    watch.terminate();
}

#[test]
fn publish_takes_the_topic_from_the_type_and_repeats_at_a_rate() {
    let ctx = zmq::Context::new();
    let (sub, endpoint) = bound(&ctx, zmq::SUB);
    sub.set_subscribe(b"EraChanged").unwrap();
    let target = format!(">{endpoint}");
    let publish = run_in_background(
        &[
            "publish",
            &target,
            r#"{"type": "EraChanged", "era": "modern"}"#,
            "--rate",
            "200",
            "--count",
            "5",
            "--wait-ms",
            "10000",
        ],
        "",
    );
    for _ in 0..5 {
        assert_eq!(
            recv_text(&sub),
            r#"EraChanged {"type": "EraChanged", "era": "modern"}"#
        );
    }
    publish
        .join()
        .unwrap()
        .success()
        .stderr(contains("published 5 message(s) on topic(s) EraChanged"));
    // Without a topic, a message without a string "type" has nowhere to go.
    run(&["publish", "tcp://127.0.0.1:*", r#"{"era":"x"}"#], "")
        .code(2)
        .stderr(contains("no TOPIC given"));
    run(
        &["publish", "tcp://127.0.0.1:*", "era", "{}", "--rate", "0"],
        "",
    )
    .code(2)
    .stderr(contains("not a rate"));
}

#[test]
fn publish_binds_by_default_and_a_subscriber_joins() {
    let ctx = zmq::Context::new();
    let (publish, endpoint) = publish_era_bound();
    let endpoint = &endpoint;
    let sub = connected(&ctx, zmq::SUB, endpoint);
    sub.set_subscribe(b"er").unwrap();
    assert_eq!(recv_text(&sub), r#"era {"a":1}"#);
    let done = publish.finish();
    assert!(done.status.success(), "{done:?}");
}

#[test]
fn push_reaches_a_raw_puller() {
    let ctx = zmq::Context::new();
    let (pull, endpoint) = bound(&ctx, zmq::PULL);
    let target = format!(">{endpoint}");
    let push = run_in_background(&["push", &target, r#"{"type":"RenderRequest","id":7}"#], "");
    assert_eq!(recv_text(&pull), r#"{"type":"RenderRequest","id":7}"#);
    push.join().unwrap().success();
    let push = run_in_background(&["push", &target, "-"], "[1]\n\"two\"\n");
    assert_eq!(recv_text(&pull), "[1]");
    assert_eq!(recv_text(&pull), r#""two""#);
    push.join().unwrap().success();
}

#[test]
fn push_without_a_puller_fails_with_1() {
    let ctx = zmq::Context::new();
    // A bound socket that is not a PULL: the PUSH never completes a handshake with it.
    let (_nobody, endpoint) = bound(&ctx, zmq::PUB);
    let target = format!(">{endpoint}");
    run(&["push", &target, "{}", "--timeout-ms", "200"], "")
        .code(1)
        .stderr(contains("no PULL peer"));
}

#[test]
fn pull_prints_tasks_and_malformed_ones() {
    let ctx = zmq::Context::new();
    let (push, endpoint) = bound(&ctx, zmq::PUSH);
    let pull = spawn(&["pull", &endpoint, "--count", "2"]);
    push.send(r#"{"type":"ImageReady","path":"/tmp/a.png"}"#, 0)
        .unwrap();
    push.send("not json", 0).unwrap();
    let done = pull.finish();
    assert!(done.status.success(), "{done:?}");
    let lines = done.lines();
    assert_eq!(
        lines[0],
        r#"{"message":{"type":"ImageReady","path":"/tmp/a.png"}}"#
    );
    let bad = parse(lines[1]);
    assert!(
        bad["malformed"].as_str().unwrap().contains("not JSON"),
        "{bad}"
    );
    assert_eq!(bad["preview"], "not json");
}

#[test]
fn hz_counts_rate_and_size_per_topic() {
    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let hz = spawn(&["hz", &endpoint, "--count", "6", "--json"]);
    await_subscription(&publisher);
    for i in 0..4 {
        publisher
            .send(format!("a {{\"i\":{i}}}").as_str(), 0)
            .unwrap();
    }
    publisher.send("bb [1,2]", 0).unwrap();
    publisher.send("bb [3,4]", 0).unwrap();
    let done = hz.finish();
    assert!(done.status.success(), "{done:?}");
    let last = parse(done.lines().last().unwrap());
    let a = &last["topics"]["a"];
    assert_eq!(a["count"], 4);
    assert_eq!(a["avg_bytes"], 9.0);
    assert_eq!(a["window"], 4);
    assert!(a["rate"].is_number() || a["rate"].is_null());
    assert_eq!(last["topics"]["bb"]["count"], 2);
    assert_eq!(last["topics"]["bb"]["avg_bytes"], 8.0);
}

#[test]
fn record_then_replay_reproduces_the_frames() {
    let ctx = zmq::Context::new();
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("experimance-record-{}.jsonl", std::process::id()));
    let file_arg = file.to_str().unwrap();
    let frames: [&[u8]; 4] = [
        br#"era {"type": "EraChanged", "era": "modern"}"#,
        b"garbage",
        b"idle {\"idle\":true}",
        b"bin \xff\xfe",
    ];

    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let record = spawn(&["record", &endpoint, file_arg, "--count", "4"]);
    await_subscription(&publisher);
    for frame in frames {
        publisher.send(frame, 0).unwrap();
    }
    let done = record.finish();
    assert!(done.status.success(), "{done:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0]["topic"], "era");
    assert_eq!(
        lines[0]["message"],
        json!({"type": "EraChanged", "era": "modern"})
    );
    assert!(lines[1]["malformed"].is_string());
    assert_eq!(lines[1]["raw"], "garbage");
    assert_eq!(lines[2]["message"], json!({"idle": true}));
    assert_eq!(lines[3]["raw_hex"], "62696e20fffe");
    let times: Vec<f64> = lines.iter().map(|l| l["t"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    let (sub, endpoint) = bound(&ctx, zmq::SUB);
    sub.set_subscribe(b"").unwrap();
    let target = format!(">{endpoint}");
    let replay = run_in_background(
        &[
            "replay",
            file_arg,
            &target,
            "--speed",
            "inf",
            "--wait-ms",
            "10000",
        ],
        "",
    );
    for frame in frames {
        assert_eq!(sub.recv_bytes(0).unwrap(), frame);
    }
    replay.join().unwrap().success();
    let _ = std::fs::remove_file(&file);
}

#[test]
fn replay_keeps_the_timing_scaled_by_speed() {
    let ctx = zmq::Context::new();
    let recording = [
        r#"{"t":5.0,"topic":"a","message":{"n":0}}"#,
        r#"{"t":5.3,"topic":"a","message":{"n":1}}"#,
        r#"{"t":5.6,"topic":"a","message":{"n":2}}"#,
    ]
    .join("\n");
    let (sub, endpoint) = bound(&ctx, zmq::SUB);
    sub.set_subscribe(b"a").unwrap();
    let target = format!(">{endpoint}");
    let replay = run_in_background(
        &["replay", "-", &target, "--speed", "2", "--wait-ms", "10000"],
        &recording,
    );
    assert_eq!(recv_text(&sub), r#"a {"n":0}"#);
    let first = Instant::now();
    assert_eq!(recv_text(&sub), r#"a {"n":1}"#);
    assert_eq!(recv_text(&sub), r#"a {"n":2}"#);
    let spread = first.elapsed().as_secs_f64();
    // 0.6 s of recording at speed 2: 0.3 s (the start is not delayed by t = 5.0).
    assert!(spread >= 0.25, "replayed too fast: {spread}");
    assert!(spread < 2.0, "replayed too slowly: {spread}");
    replay.join().unwrap().success();
}

#[test]
fn replay_rejects_a_bad_recording_with_2() {
    run(
        &["replay", "-", "tcp://127.0.0.1:*"],
        "{\"t\":0,\"topic\":\"a\",\"message\":1}\n{\"t\":1}\n",
    )
    .code(2)
    .stderr(contains("-:2:"));
    run(
        &[
            "replay",
            "/nonexistent/recording.jsonl",
            "tcp://127.0.0.1:*",
        ],
        "",
    )
    .code(2)
    .stderr(contains("cannot read"));
}

#[test]
fn watch_once_shows_heartbeats_and_stats() {
    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let watch = spawn(&["watch", &endpoint, "--once"]);
    await_subscription(&publisher);
    let stats = json!({
        "service": "Worker", "start_time": 1764345600.0, "uptime": 10.0,
        "messages_sent": 25, "messages_received": 5, "errors": 1,
        "send_rate": 2.5, "receive_rate": 0.5, "state": "running", "status": "healthy"
    });
    publisher
        .send(format!("Worker.stats {stats}").as_str(), 0)
        .unwrap();
    let heartbeat = serde_json::to_string(&Heartbeat::now("Worker", State::Running)).unwrap();
    publisher
        .send(format!("heartbeat {heartbeat}").as_str(), 0)
        .unwrap();
    let done = watch.finish();
    assert!(done.status.success(), "{done:?}");
    assert!(
        !done.stdout.contains('\x1b'),
        "escape codes with --once: {done:?}"
    );
    let row = done
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Worker"))
        .unwrap_or_else(|| panic!("no row for Worker: {done:?}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["Worker", "running", "alive", cells[3], "ago", "2.5", "0.5", "1", "healthy"],
        "{done:?}"
    );
}

#[test]
fn watch_once_without_heartbeat_fails_with_1() {
    let ctx = zmq::Context::new();
    let (_publisher, endpoint) = bound(&ctx, zmq::PUB);
    run(&["watch", &endpoint, "--once", "--duration", "100ms"], "")
        .code(1)
        .stdout(contains("(no heartbeat yet)"))
        .stderr(contains("no heartbeat received"));
}

#[test]
fn proxy_forwards_and_stops_on_sigterm() {
    let ctx = zmq::Context::new();
    let mut proxy = spawn(&["proxy", "--xsub", ANY_PORT, "--xpub", ANY_PORT]);
    let line = proxy.await_stderr("proxy:");
    let ends = endpoints(&line);
    assert_eq!(ends.len(), 2, "{line}");
    let sub = connected(&ctx, zmq::SUB, &ends[1]);
    sub.set_subscribe(b"era").unwrap();
    let publisher = connected(&ctx, zmq::PUB, &ends[0]);
    // The subscription travels through the proxy: publish until it arrives.
    let deadline = Instant::now() + SAFETY;
    let received = loop {
        assert!(Instant::now() < deadline, "nothing came through the proxy");
        publisher.send(r#"era {"via":"proxy"}"#, 0).unwrap();
        if sub.poll(zmq::POLLIN, 20).unwrap() > 0 {
            break recv_text(&sub);
        }
    };
    assert_eq!(received, r#"era {"via":"proxy"}"#);
    proxy.terminate();
    let done = proxy.finish();
    assert_eq!(done.status.code(), Some(0), "{done:?}");
}

#[test]
fn tap_stops_cleanly_on_sigterm() {
    let ctx = zmq::Context::new();
    let (_publisher, endpoint) = bound(&ctx, zmq::PUB);
    let mut tap = spawn(&["tap", &endpoint]);
    tap.await_stderr("tap: SUB connected");
    tap.terminate();
    let done = tap.finish();
    assert_eq!(done.status.code(), Some(0), "{done:?}");
}

#[test]
fn bad_addresses_exit_2() {
    for args in [
        vec!["tap", "localhost:5555"],
        vec!["pull", "tcp://"],
        vec!["publish", "@tcp://127.0.0.1:notaport", "era", "{}"],
        vec!["push", "carrier-pigeon://home", "{}"],
        vec!["proxy", "--xsub", "tcp://127.0.0.1:*", "--xpub", "nowhere"],
    ] {
        run(&args, "")
            .code(2)
            .stderr(contains("bad address").or(contains("cannot bind")));
    }
}

#[test]
fn bad_json_and_topics_exit_2() {
    run(&["publish", "tcp://127.0.0.1:*", "era", "{oops"], "")
        .code(2)
        .stderr(contains("bad JSON in the JSON argument"));
    run(
        &["publish", "tcp://127.0.0.1:*", "era", "-", "--wait-ms", "0"],
        "{}\nnot json\n",
    )
    .code(2)
    .stderr(contains("bad JSON in stdin line 2"));
    run(&["publish", "tcp://127.0.0.1:*", "two words", "{}"], "")
        .code(2)
        .stderr(contains("invalid topic"));
    run(&["tap"], "").code(2);
}

#[test]
fn an_address_in_use_exits_1() {
    let ctx = zmq::Context::new();
    let (_holder, endpoint) = bound(&ctx, zmq::PUB);
    let target = format!("@{endpoint}");
    run(&["publish", &target, "era", "{}", "--wait-ms", "0"], "")
        .code(1)
        .stderr(contains("cannot bind"));
}

/// `hz` redraws its table in place on a terminal (and prints one after the other into a
/// pipe, as the other tests read it).
#[test]
fn hz_redraws_in_place_on_a_terminal() {
    use std::io::Read as _;

    let ctx = zmq::Context::new();
    let (publisher, endpoint) = bound(&ctx, zmq::XPUB);
    let (mut master, slave) = pty::open_pty();
    let mut hz = bin()
        .args(["hz", &endpoint, "--count", "3", "--every", "50ms"])
        .stdout(std::process::Stdio::from(slave))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn hz");
    await_subscription(&publisher);
    for n in 0..3 {
        publisher
            .send(format!("era {{\"n\":{n}}}").as_str(), 0)
            .unwrap();
    }
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buffer = [0; 4096];
        // Once hz exits, reading the master end ends (EIO).
        while let Ok(n @ 1..) = master.read(&mut buffer) {
            shown.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    assert!(hz.wait().expect("hz exits").success());
    let shown = reader.join().unwrap();
    assert!(
        shown.starts_with("\x1b[2J"),
        "the screen is cleared first: {shown:?}"
    );
    assert!(
        shown.contains("\x1b[H"),
        "each table starts at home: {shown:?}"
    );
    assert!(shown.contains("era"), "{shown:?}");
}

/// `topics` lists what each publisher sent while it listened.
#[test]
fn topics_lists_topics_with_their_publishers() {
    let ctx = zmq::Context::new();
    let (core, core_endpoint) = bound(&ctx, zmq::XPUB);
    let (agent, agent_endpoint) = bound(&ctx, zmq::XPUB);
    let topics = spawn(&[
        "topics",
        &core_endpoint,
        &agent_endpoint,
        "--duration",
        "3s",
        "--json",
    ]);
    await_subscription(&core);
    await_subscription(&agent);
    for n in 0..3 {
        core.send(format!("era {{\"n\":{n}}}").as_str(), 0).unwrap();
        agent
            .send(format!("era {{\"n\":{n}}}").as_str(), 0)
            .unwrap();
        agent.send("speech {}", 0).unwrap();
    }
    let done = topics.finish();
    assert!(done.status.success(), "{done:?}");
    let report = parse(done.lines()[0]);
    assert_eq!(report["era"]["count"], 6, "{report}");
    assert_eq!(
        report["era"]["publishers"],
        json!([core_endpoint.clone(), agent_endpoint.clone()])
    );
    assert_eq!(report["speech"]["count"], 3);
    assert_eq!(report["speech"]["publishers"], json!([agent_endpoint]));
    assert_eq!(report["speech"]["avg_bytes"], 9.0);
}
