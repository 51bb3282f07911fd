//! CURVE between a Rust service and the real pyzmq (from pip, which ships libzmq with
//! CURVE), both ways, with the keys in certificate files each side wrote for the other:
//! a pyzmq SUB client of a Rust PUB server that allows only its key, and a Rust PULL client
//! of a pyzmq PUSH server whose authenticator allows only the Rust key.

#[path = "common/beacon.rs"]
mod beacon;
mod common;
#[path = "common/python.rs"]
mod python;

use std::time::Duration;

use beacon::{Beacon, MARKER};
use experimance::curve::certificate;
use experimance::{handlers, service, Config, Curve, Role, Runner};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::child::Kid;

const SAFETY: Duration = Duration::from_secs(20);

/// Takes tasks.
#[service(
    name = "RustTaker",
    pull = "tcp://127.0.0.1:1",
    curve = true,
    stats_interval = "off"
)]
struct Taker {
    tx: mpsc::UnboundedSender<Value>,
}

#[handlers]
impl Taker {
    #[task]
    async fn take(&mut self, task: Value) {
        let _ = self.tx.send(task);
    }
}

/// Writes this side's key pair as certificates `NAME.key` and `NAME.key_secret` in `dir`.
fn write_certificates(dir: &std::path::Path, name: &str, keys: &Curve) {
    let by = "the test";
    std::fs::write(
        dir.join(format!("{name}.key")),
        certificate(keys.public_key(), None, by),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}.key_secret")),
        certificate(keys.public_key(), Some(keys.secret_key()), by),
    )
    .unwrap();
}

/// A configuration file in `dir` with `text`, loaded.
fn config(dir: &std::path::Path, text: &str) -> Config {
    let path = dir.join("experimance.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pyzmq_client_subscribes_to_a_rust_curve_server() {
    let dir = python::scratch("curve-pyclient");
    // pyzmq writes its client's certificates; the Rust service allows that public key.
    python::run(
        &dir,
        "import zmq.auth; zmq.auth.create_certificates('.', 'pyclient')",
        &[],
        "",
    );
    let server = Curve::generate().unwrap();
    write_certificates(&dir, "rust", &server);
    let d = dir.display();
    let runner = Runner::new(Beacon { n: 0 }).with_config(config(
        &dir,
        &format!(
            "[services.RustBeacon]\ncurve_secret_key = \"{d}/rust.key_secret\"\ncurve_allow = [\"{d}/pyclient.key\"]\n"
        ),
    ));
    runner.start().await.expect("the Rust CURVE server starts");
    let endpoint = runner.endpoint(Role::Pub).unwrap();

    let script = r#"
import sys, zmq, zmq.auth
endpoint, timeout_ms = sys.argv[1], int(sys.argv[2])
public, secret = zmq.auth.load_certificate("pyclient.key_secret")
server, _ = zmq.auth.load_certificate("rust.key")
sub = zmq.Context.instance().socket(zmq.SUB)
sub.curve_publickey, sub.curve_secretkey, sub.curve_serverkey = public, secret, server
sub.subscribe(b"secret")
sub.rcvtimeo = timeout_ms
sub.connect(endpoint)
print(sub.recv().decode())
"#;
    let millis = SAFETY.as_millis().to_string();
    let received =
        tokio::task::spawn_blocking(move || python::run(&dir, script, &[&endpoint, &millis], ""))
            .await
            .unwrap();
    assert!(received.starts_with("secret {"), "{received}");
    assert!(received.contains(MARKER), "{received}");
    runner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_pulls_from_a_pyzmq_curve_server() {
    let dir = python::scratch("curve-pyserver");
    let client = Curve::generate().unwrap();
    // The pyzmq server allows the certificates in `allowed/`: the Rust client's alone.
    std::fs::create_dir_all(dir.join("allowed")).unwrap();
    write_certificates(&dir.join("allowed"), "rust", &client);
    std::fs::rename(
        dir.join("allowed/rust.key_secret"),
        dir.join("rust.key_secret"),
    )
    .unwrap();
    let script = format!(
        r#"
import sys, zmq, zmq.auth
from zmq.auth.thread import ThreadAuthenticator
context = zmq.Context.instance()
auth = ThreadAuthenticator(context)
auth.start()
auth.configure_curve(domain="*", location="allowed")
zmq.auth.create_certificates(".", "pyserver")
public, secret = zmq.auth.load_certificate("pyserver.key_secret")
push = context.socket(zmq.PUSH)
push.curve_server, push.curve_publickey, push.curve_secretkey = True, public, secret
port = push.bind_to_random_port("tcp://127.0.0.1")
print("PORT", port, flush=True)
push.sndtimeo = {timeout}
for n in range(3):
    push.send_json({{"n": n, "text": "{MARKER}"}})
sys.stdin.read()
auth.stop()
"#,
        timeout = SAFETY.as_millis()
    );
    let mut python = Kid::start(python::command(&dir, &script, &[]), python::PEER);
    let port = python.line("PORT").await;
    assert!(port.parse::<u16>().is_ok(), "pyzmq said {port:?}");

    let d = dir.display();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Taker { tx })
        .with_address(Role::Pull, format!("tcp://127.0.0.1:{port}"))
        .with_config(config(
            &dir,
            &format!(
                "[services.RustTaker]\ncurve_secret_key = \"{d}/rust.key_secret\"\ncurve_server_key = \"{d}/pyserver.key\"\n"
            ),
        ));
    runner.start().await.expect("the Rust CURVE client starts");
    for n in 0..3 {
        let task = tokio::time::timeout(SAFETY, rx.recv())
            .await
            .expect("a task from pyzmq in time")
            .expect("the service is running");
        assert_eq!(task, json!({ "n": n, "text": MARKER }));
    }
    runner.stop().await;
    python.close_stdin();
    let (status, printed) = python.wait().await;
    assert!(status.success(), "pyzmq server: {status}, {printed:?}");
}
