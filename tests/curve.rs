//! CURVE needs a libzmq built with libsodium; the vendored one is not. Asking for it must fail
//! the start with an error that says so, never fall back to plain text silently.

use experimance::{handlers, service, Error, Role, Runner, State, Status};

#[service(pub = "tcp://127.0.0.1:*", curve = true, stats_interval = "off")]
struct Encrypted;

#[handlers]
impl Encrypted {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_curve_fails_the_start_with_a_clear_error() {
    assert_eq!(
        zmq::has("curve"),
        Some(false),
        "this test expects a libzmq without CURVE"
    );
    let runner = Runner::new(Encrypted);
    let error = runner.start().await.expect_err("the start must fail");
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("CURVE") && text.contains("libsodium"),
        "{text}"
    );
    assert_eq!(runner.state(), State::Stopped);
    assert_eq!(runner.status(), Status::Fatal);
    assert_eq!(runner.endpoint(Role::Pub), None, "nothing was bound");
}
