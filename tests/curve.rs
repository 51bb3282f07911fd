//! CURVE encryption (RFC 26) with real sockets: publish/subscribe and push/pull between Rust
//! services; a client whose key is not allowed is refused and receives nothing; the payload
//! never crosses the wire in clear (a TCP relay in the middle records every byte); a wrong
//! server key fails with a log line that says what to check; keys come from key files and
//! never appear in logs or `Debug` output.

#[path = "common/beacon.rs"]
mod beacon;
mod reliability_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use beacon::{Beacon, MARKER};
use experimance::{handlers, service, Config, Context, Curve, Error, Role, Runner};
use reliability_support::capture::{capture, logs};
use reliability_support::{next, until, Raw, ANY_PORT, HANDSHAKE_ENDS};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use zmq::SocketEvent;

/// Publishes `secret {"n": n, "text": MARKER}` and pushes the same every 10 ms.
#[service(
    pub = "inproc://overridden-by-the-test",
    push = "inproc://overridden-by-the-test",
    curve = true,
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Source {
    n: u64,
}

#[handlers]
impl Source {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        self.n += 1;
        let body = json!({ "n": self.n, "text": MARKER });
        ctx.publish_to("secret", &body).await?;
        ctx.push(&body).await
    }
}

/// Takes what the source sends: `("topic", body)` and `("task", body)`.
#[service(
    sub = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    topics = ["secret"],
    stats_interval = "off"
)]
struct Sink {
    tx: mpsc::UnboundedSender<(&'static str, Value)>,
}

#[handlers]
impl Sink {
    #[topic("secret")]
    async fn on_secret(&mut self, body: Value) {
        let _ = self.tx.send(("topic", body));
    }

    #[task]
    async fn on_task(&mut self, body: Value) {
        let _ = self.tx.send(("task", body));
    }
}

fn source(name: &str, curve: Option<Curve>) -> Runner<Source> {
    Runner::new(Source { n: 0 })
        .with_name(name)
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Push, ANY_PORT)
        .with_curve(curve)
}

fn sink(
    name: &str,
    from: &Runner<Source>,
    curve: Option<Curve>,
) -> (Runner<Sink>, mpsc::UnboundedReceiver<(&'static str, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Sink { tx })
        .with_name(name)
        .with_address(Role::Sub, from.endpoint(Role::Pub).unwrap())
        .with_address(Role::Pull, from.endpoint(Role::Push).unwrap())
        .with_curve(curve);
    (runner, rx)
}

/// No key of `curves` in any log line of this binary so far, whole or in part.
fn assert_no_keys_logged(curves: &[&Curve]) {
    for line in logs() {
        for curve in curves {
            for key in [curve.public_key(), curve.secret_key()] {
                let z85 = key.to_z85();
                assert!(!line.contains(&z85[..12]), "a key was logged: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_publish_subscribe_and_push_pull() {
    capture();
    let server = Curve::generate().unwrap();
    let client = Curve::generate().unwrap();
    let source = source(
        "CurveSource",
        Some(server.clone().with_allowed([client.public_key().clone()])),
    );
    source.start().await.expect("source starts");
    let (sink, mut rx) = sink(
        "CurveSink",
        &source,
        Some(client.clone().with_server_key(server.public_key().clone())),
    );
    sink.start().await.expect("sink starts");

    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let (kind, body) = next(&mut rx, "an encrypted message").await;
        assert_eq!(body["text"], MARKER);
        seen.insert(kind);
    }
    sink.stop().await;
    source.stop().await;
    assert_no_keys_logged(&[&server, &client]);
}

/// A raw CURVE client with `keys`, expecting `server`, of `kind`, monitored.
fn raw_client(
    kind: zmq::SocketType,
    keys: &Curve,
    server: &Curve,
) -> (Raw, reliability_support::Monitor) {
    let raw = Raw::new(kind);
    let sock = raw.sock();
    sock.set_curve_serverkey(server.public_key().as_bytes())
        .unwrap();
    sock.set_curve_publickey(keys.public_key().as_bytes())
        .unwrap();
    sock.set_curve_secretkey(keys.secret_key().as_bytes())
        .unwrap();
    if kind == zmq::SUB {
        sock.set_subscribe(b"secret").unwrap();
    }
    let monitor = raw.monitor(&HANDSHAKE_ENDS);
    (raw, monitor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_an_unknown_key_is_refused_and_gets_nothing() {
    capture();
    let server = Curve::generate().unwrap();
    let known = Curve::generate().unwrap();
    let stranger = Curve::generate().unwrap();
    let source = source(
        "CurveGate",
        Some(server.clone().with_allowed([known.public_key().clone()])),
    );
    source.start().await.expect("source starts");

    for kind in [zmq::SUB, zmq::PULL] {
        let role = if kind == zmq::SUB {
            Role::Pub
        } else {
            Role::Push
        };
        let (raw, mut monitor) = raw_client(kind, &stranger, &server);
        let raw = raw.connect_to(&source.endpoint(role).unwrap());
        monitor.expect_refused("the stranger").await;

        // The known client gets messages from then on; the stranger, whose handshake libzmq
        // never retries, has nothing.
        let (mut good, mut good_monitor) = raw_client(kind, &known, &server);
        good = good.connect_to(&source.endpoint(role).unwrap());
        good_monitor
            .wait_for(&[SocketEvent::HANDSHAKE_SUCCEEDED])
            .await;
        let frame = good.recv().await;
        assert!(String::from_utf8_lossy(&frame).contains(MARKER));
        let mut nothing = zmq::Message::new();
        assert_eq!(
            raw.sock().recv(&mut nothing, zmq::DONTWAIT),
            Err(zmq::Error::EAGAIN),
            "the refused client received something"
        );
    }
    // Counted and logged, with a short fingerprint of the refused key only.
    until("the refusals counted", || source.stats().errors >= 2).await;
    let refused: Vec<String> = logs()
        .into_iter()
        .filter(|l| {
            l.contains("connection refused")
                && l.contains("service=CurveGate")
                && l.contains("CURVE key not allowed")
        })
        .collect();
    assert!(!refused.is_empty(), "no refusal logged: {:#?}", logs());
    let fingerprint = &stranger.public_key().to_z85()[..8];
    assert!(
        refused
            .iter()
            .any(|l| l.contains(&format!("client_key={fingerprint}…"))),
        "{refused:#?}"
    );
    source.stop().await;
    assert_no_keys_logged(&[&server, &known, &stranger]);
}

/// A TCP relay to `target` that records every byte it forwards, both ways.
fn recording_relay(target: &str) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let target = target.trim_start_matches("tcp://").to_owned();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let tape = Arc::clone(&recorded);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&target) else {
                return;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let tape = Arc::clone(&tape);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    while let Ok(n) = from.read(&mut buffer) {
                        if n == 0 {
                            break;
                        }
                        // Recorded before it is passed on: what arrived is on the tape.
                        tape.lock().unwrap().extend_from_slice(&buffer[..n]);
                        if to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (address, recorded)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_never_crosses_the_wire_in_clear() {
    capture();
    let server = Curve::generate().unwrap();
    let client = Curve::generate().unwrap();
    // Without CURVE first: the relay sees the payload (so the check below can fail).
    for encrypted in [false, true] {
        let source = Runner::new(Beacon { n: 0 })
            .with_name(format!("CurveWire{encrypted}"))
            .with_address(Role::Pub, ANY_PORT)
            .with_curve(encrypted.then(|| server.clone()));
        source.start().await.expect("beacon starts");
        let (relay, recorded) = recording_relay(&source.endpoint(Role::Pub).unwrap());
        // The monitor is kept until the end: libzmq's I/O thread waits on a monitor that is
        // not read.
        let (raw, _monitor) = if encrypted {
            let (raw, monitor) = raw_client(zmq::SUB, &client, &server);
            (raw, Some(monitor))
        } else {
            let raw = Raw::new(zmq::SUB);
            raw.subscribe("secret");
            (raw, None)
        };
        let mut raw = raw.connect_to(&relay);
        let frame = raw.recv().await;
        assert!(String::from_utf8_lossy(&frame).contains(MARKER));
        let tape = recorded.lock().unwrap().clone();
        assert!(!tape.is_empty());
        assert_eq!(
            contains(&tape, MARKER.as_bytes()),
            !encrypted,
            "encrypted: {encrypted}"
        );
        source.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_key_fails_with_a_clear_log_line() {
    capture();
    let server = Curve::generate().unwrap();
    let client = Curve::generate().unwrap();
    let impostor = Curve::generate().unwrap();
    let source = source("CurveRightKey", Some(server.clone()));
    source.start().await.expect("source starts");
    let (sink, mut rx) = sink(
        "CurveWrongKey",
        &source,
        Some(
            client
                .clone()
                .with_server_key(impostor.public_key().clone()),
        ),
    );
    sink.start()
        .await
        .expect("the sink starts: a wrong key is only known on the wire");
    until("the failed handshake logged", || {
        logs().iter().any(|l| {
            l.contains("CURVE handshake failed")
                && l.contains("curve_server_key")
                && l.contains("socket=SUB")
        })
    })
    .await;
    until("the PULL's failed handshake logged", || {
        logs()
            .iter()
            .any(|l| l.contains("CURVE handshake failed") && l.contains("socket=PULL"))
    })
    .await;
    assert!(rx.try_recv().is_err(), "nothing gets through");
    sink.stop().await;
    source.stop().await;
    assert_no_keys_logged(&[&server, &client, &impostor]);
}

/// A path in the target's scratch directory, unique to this process and `name` (with a `_`,
/// which is no Z85 character, so a key file's path never reads as a key).
fn scratch(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("experimance_curve_{}_{name}", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_key_files_in_the_configuration_file() {
    capture();
    let server = Curve::generate().unwrap();
    let client = Curve::generate().unwrap();
    let write = |name: &str, text: String| {
        let path = scratch(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let certificate = experimance::curve::certificate;
    let server_secret = write(
        "server.key_secret",
        certificate(server.public_key(), Some(server.secret_key()), "a test"),
    );
    let server_public = write(
        "server.key",
        certificate(server.public_key(), None, "a test"),
    );
    let client_secret = write(
        "client.key_secret",
        certificate(client.public_key(), Some(client.secret_key()), "a test"),
    );
    let client_public = write(
        "client.key",
        certificate(client.public_key(), None, "a test"),
    );
    let config_path = scratch("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[services.CurveFileSource]\ncurve_secret_key = {server_secret:?}\ncurve_allow = [{client_public:?}]\n\n\
             [services.CurveFileSink]\ncurve_secret_key = {client_secret:?}\ncurve_server_key = {server_public:?}\n"
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    // The source's `curve = true` takes its keys from the file.
    let source = Runner::new(Source { n: 0 })
        .with_name("CurveFileSource")
        .with_address(Role::Pub, ANY_PORT)
        .with_address(Role::Push, ANY_PORT)
        .with_config(config.clone());
    source
        .start()
        .await
        .expect("source starts with keys from files");
    // The sink has no `curve` key: its secret key alone turns CURVE on.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sink = Runner::new(Sink { tx })
        .with_name("CurveFileSink")
        .with_address(Role::Sub, source.endpoint(Role::Pub).unwrap())
        .with_address(Role::Pull, source.endpoint(Role::Push).unwrap())
        .with_config(config);
    sink.start()
        .await
        .expect("sink starts with keys from files");
    let (_, body) = next(&mut rx, "a message over CURVE").await;
    assert_eq!(body["text"], MARKER);
    // An unencrypted client is refused: the source is a CURVE server.
    let raw = Raw::new(zmq::SUB);
    raw.subscribe("secret");
    let mut monitor = raw.monitor(&HANDSHAKE_ENDS);
    let _raw = raw.connect_to(&source.endpoint(Role::Pub).unwrap());
    monitor.expect_refused("a client without CURVE").await;
    sink.stop().await;
    source.stop().await;
    assert_no_keys_logged(&[&server, &client]);
}

#[test]
fn keys_never_appear_in_debug_output() {
    let curve = Curve::generate()
        .unwrap()
        .with_server_key(Curve::generate().unwrap().public_key().clone());
    let secret = curve.secret_key().to_z85();
    let public = curve.public_key().to_z85();
    let text = format!("{curve:?}");
    assert!(!text.contains(&secret) && !text.contains(&public), "{text}");
    let path = scratch("debug.toml");
    std::fs::write(
        &path,
        format!(
            "[services.Source]\ncurve_secret_key = {secret:?}\ncurve_public_key = {public:?}\n"
        ),
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let text = format!("{config:?}");
    assert!(!text.contains(&secret), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_on_without_keys_fails_the_start_naming_the_key() {
    let runner = Runner::new(Source { n: 0 }).with_address(Role::Pub, ANY_PORT);
    match runner.start().await {
        Err(Error::Config { message, .. }) => {
            assert!(message.contains("curve_secret_key"), "{message}");
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
    // A connecting socket without a server key is named too.
    let server = Curve::generate().unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Sink { tx })
        .with_address(Role::Sub, "tcp://127.0.0.1:1")
        .with_address(Role::Pull, "tcp://127.0.0.1:2")
        .with_curve(Some(server));
    match runner.start().await {
        Err(Error::Config { message, .. }) => {
            assert!(message.contains("curve_server_key"), "{message}");
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
}
