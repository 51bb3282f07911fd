//! Hostile peers (issue 10): what a peer can do to a service with nothing but the bytes it
//! sends, over real TCP.
//!
//! - A frame over `max_message_size` makes libzmq drop a connecting SUB's or PULL's
//!   connection for good (a protocol error is never reconnected); the service connects again
//!   by itself, counts it in `reconnects`, and receives what comes after.
//! - Bytes from the network never reach a log line raw: the real formatter a user installs
//!   (`experimance::init_logging`) writes every peer-controlled topic, payload preview, decode
//!   error and peer name with control characters escaped, so no forged line, no carriage
//!   return and no terminal escape gets through.
//!   Health is `warning` while the connection stays lost.
//! - A 16 MiB subscription is refused by libzmq while it is read (`max_subscription_size`),
//!   so it costs the publisher no memory, and other subscribers keep receiving.
//! - A flood of distinct subscriptions is cut off at the publisher's budget
//!   (`max_subscriptions`), so it costs the publisher little memory either.
//! - Ten thousand ZMTP connect/handshake/close cycles against a bound PUB that publishes
//!   nothing do not grow its memory: the PUB socket's libzmq commands are processed as they
//!   come, not only at the next publish.
//!
//! The memory and the log format are measured in child processes (this test binary
//! re-executed, `--exact child_* --nocapture`, with `EXPERIMANCE_RELIABILITY_CHILD` set; the
//! child tests do nothing without it), so the test's own sockets and logs do not count.

mod reliability_support;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Error, Role, Runner, Status};
use reliability_support::capture::{capture, logged};
use reliability_support::{
    child, child_mode, child_stdin, next, port_of, say, spawn_child, status_kib, until, Kid, Raw,
    ANY_PORT, CHILD_ENV, SAFETY,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------------
// Raw ZMTP 3.0 over TCP: a subscriber that is nothing but bytes
// ---------------------------------------------------------------------------------------------

/// Connects to `port` and does the ZMTP 3.0 NULL handshake as a SUB: our greeting and READY,
/// then the publisher's greeting and READY. Blocking; every read and write has `SAFETY` as its
/// timeout.
fn zmtp_sub(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the publisher");
    zmtp_handshake(stream, b"SUB", "publisher")
}

/// The ZMTP 3.0 NULL handshake on `stream` as a socket of type `ours`: our greeting and
/// READY, then the `peer`'s greeting and READY, each checked. Blocking; every read and write
/// has `SAFETY` as its timeout.
fn zmtp_handshake(mut stream: TcpStream, ours: &[u8], peer: &str) -> TcpStream {
    stream.set_read_timeout(Some(SAFETY)).expect("read timeout");
    stream
        .set_write_timeout(Some(SAFETY))
        .expect("write timeout");
    let mut greeting = [0u8; 64];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3; // version 3.0
    greeting[12..16].copy_from_slice(b"NULL");
    let mut ready = vec![5];
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    ready.extend_from_slice(&(ours.len() as u32).to_be_bytes());
    ready.extend_from_slice(ours);
    let mut out = greeting.to_vec();
    out.extend_from_slice(&[0x04, ready.len() as u8]);
    out.extend_from_slice(&ready);
    stream.write_all(&out).expect("send greeting and READY");

    let mut theirs = [0u8; 64];
    stream
        .read_exact(&mut theirs)
        .unwrap_or_else(|e| panic!("the {peer}'s greeting: {e}"));
    assert_eq!(
        (theirs[0], theirs[9], theirs[10]),
        (0xff, 0x7f, 3),
        "a ZMTP 3 greeting: {theirs:?}"
    );
    let mut head = [0u8; 2];
    stream
        .read_exact(&mut head)
        .unwrap_or_else(|e| panic!("the {peer}'s READY: {e}"));
    assert_eq!(
        head[0] & 0x04,
        0x04,
        "a command frame, got flags {:#x}",
        head[0]
    );
    let size = if head[0] & 0x02 != 0 {
        let mut rest = [0u8; 7];
        stream.read_exact(&mut rest).expect("long size");
        let mut bytes = [head[1], 0, 0, 0, 0, 0, 0, 0];
        bytes[1..].copy_from_slice(&rest);
        u64::from_be_bytes(bytes) as usize
    } else {
        head[1] as usize
    };
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body).expect("READY body");
    assert!(body.starts_with(b"\x05READY"), "READY, got {body:?}");
    stream
}

/// One ZMTP message frame (last frame of its message) holding `body`.
fn zmtp_message(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(body.len() + 9);
    match u8::try_from(body.len()) {
        Ok(short) => frame.extend_from_slice(&[0x00, short]),
        Err(_) => {
            frame.push(0x02);
            frame.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(body);
    frame
}

// ---------------------------------------------------------------------------------------------
// 1. An oversize frame on a connecting SUB or PULL
// ---------------------------------------------------------------------------------------------

/// The largest message the services of section 1 accept: small, so the test is fast.
const MAX: usize = 64 * 1024;

#[service(
    name = "MendedSub",
    sub = "inproc://overridden-by-the-test",
    topics = ["a"],
    max_message_size = "64KiB",
    stats_interval = "off"
)]
struct MendedSub {
    tx: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl MendedSub {
    #[topic("a")]
    async fn a(&mut self, msg: Value) {
        let _ = self.tx.send(msg["n"].as_u64().expect("a numbered message"));
    }
}

#[service(
    name = "MendedPull",
    pull = "inproc://overridden-by-the-test",
    max_message_size = "64KiB",
    stats_interval = "off"
)]
struct MendedPull {
    tx: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl MendedPull {
    #[task]
    async fn t(&mut self, msg: Value) {
        let _ = self.tx.send(msg["n"].as_u64().expect("a numbered task"));
    }
}

/// A frame of exactly `size` bytes: `prefix` and `x`s.
fn frame_of_size(prefix: &[u8], size: usize) -> Vec<u8> {
    let mut frame = prefix.to_vec();
    frame.resize(size, b'x');
    frame
}

/// Waits until the capture holds the service's warning that the `socket` connection to
/// `endpoint` was lost, and after it the note that it is connected again.
async fn mending_logged(socket: Role, endpoint: &str) {
    let socket = format!(" socket={socket} ");
    let endpoint = format!(" endpoint={endpoint}");
    // The endpoint ends the line or is followed by another field.
    let names = |l: &str| l.contains(&format!("{endpoint} ")) || l.ends_with(&endpoint);
    until("the warning `connection lost; connecting again`", || {
        logged(&["connection lost; connecting again", &socket])
            .iter()
            .any(|l| l.starts_with("WARN ") && names(l))
    })
    .await;
    until("the note `connected again`", || {
        logged(&["connected again", &socket])
            .iter()
            .any(|l| l.starts_with("INFO ") && names(l) && !l.contains("connection lost"))
    })
    .await;
}

/// A service's SUB connects to a raw bound PUB that sends one frame of `max_message_size + 1`
/// bytes: libzmq drops that connection as a protocol error and would never reconnect. The
/// service connects again by itself: numbered frames published after the oversize one are
/// handled (20 of them; the publisher keeps publishing, as PUB/SUB drops while nobody is
/// connected), the raw PUB accepts a second connection, `reconnects` counts it, the warning
/// `connection lost; connecting again` names the socket and endpoint, and health is `healthy`
/// again. Without the service's own reconnect no frame after the oversize one would ever be
/// handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_on_a_connecting_sub_is_mended_by_connecting_again() {
    capture();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let raw = Raw::new(zmq::PUB);
    let mut accepted = raw.monitor(&[zmq::SocketEvent::ACCEPTED]);
    let mut publisher = raw.bind_to(ANY_PORT);
    let endpoint = publisher.endpoint.clone();
    let runner = Runner::new(MendedSub { tx }).with_address(Role::Sub, endpoint.clone());
    runner.start().await.expect("start");
    assert_eq!(
        <MendedSub as experimance::Service>::SPEC.max_message_size,
        MAX as i64
    );

    // The slow joiner: publish until a frame is handled, so the connection is up.
    let mut n = 0u64;
    loop {
        assert!(n < 5_000, "the service never received a frame");
        n += 1;
        assert!(publisher.try_send(format!(r#"a {{"n":{n}}}"#)));
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(5), rx.recv()).await {
            break;
        }
    }
    accepted.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    assert_eq!(runner.stats().reconnects, 0);

    let oversize_at = n;
    assert!(publisher.try_send(frame_of_size(b"a ", MAX + 1)));
    let mut after = BTreeSet::new();
    let deadline = Instant::now() + SAFETY;
    while after.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "only {} frames published after the oversize one were handled within {SAFETY:?} \
             (stats: {})",
            after.len(),
            runner.stats()
        );
        n += 1;
        assert!(publisher.try_send(format!(r#"a {{"n":{n}}}"#)));
        // Waiting for a handled frame paces the publisher (it must keep publishing: whatever
        // it publishes while the service is not connected is dropped).
        if let Ok(Some(k)) = tokio::time::timeout(Duration::from_millis(2), rx.recv()).await {
            if k > oversize_at {
                after.insert(k);
            }
        }
    }

    // The raw PUB saw the service connect a second time.
    accepted.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    let stats = runner.stats();
    assert!(stats.reconnects >= 1, "reconnects counted: {stats}");
    mending_logged(Role::Sub, &endpoint).await;
    until("health back to healthy", || {
        runner.status() == Status::Healthy
    })
    .await;
    runner.stop().await;
}

/// The same with two publishers on one SUB socket (issue 11): the oversize frame comes from
/// `a`; the service connects again to `a` alone, so frames from both are handled afterwards
/// and `b` never saw a second connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_frame_from_one_of_two_publishers_mends_that_connection_only() {
    capture();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let raw_a = Raw::new(zmq::PUB);
    let mut accepted_a = raw_a.monitor(&[zmq::SocketEvent::ACCEPTED]);
    let mut a = raw_a.bind_to(ANY_PORT);
    let raw_b = Raw::new(zmq::PUB);
    let mut accepted_b = raw_b.monitor(&[zmq::SocketEvent::ACCEPTED]);
    let mut b = raw_b.bind_to(ANY_PORT);
    let runner = Runner::new(MendedSub { tx })
        .with_name("MendedSubOfTwo")
        .with_address(Role::Sub, [a.endpoint.clone(), b.endpoint.clone()]);
    runner.start().await.expect("start");
    // `b` numbers its frames from this offset, so each handled frame says who sent it.
    const B: u64 = 1_000_000;

    // Publish from both until each publisher's frame is handled `want` times after `since`.
    async fn until_both_heard(
        a: &mut Raw,
        b: &mut Raw,
        rx: &mut mpsc::UnboundedReceiver<u64>,
        n: &mut u64,
        since: u64,
        want: usize,
    ) {
        let (mut from_a, mut from_b) = (BTreeSet::new(), BTreeSet::new());
        let deadline = Instant::now() + SAFETY;
        while from_a.len() < want || from_b.len() < want {
            assert!(
                Instant::now() < deadline,
                "heard {from_a:?} from a, {from_b:?} from b"
            );
            *n += 1;
            assert!(a.try_send(format!(r#"a {{"n":{n}}}"#)));
            assert!(b.try_send(format!(r#"a {{"n":{}}}"#, B + *n)));
            while let Ok(Some(k)) = tokio::time::timeout(Duration::from_millis(2), rx.recv()).await
            {
                match k {
                    k if k >= B + since => from_b.insert(k),
                    k if k > since && k < B => from_a.insert(k),
                    _ => false,
                };
            }
        }
    }
    let mut n = 0u64;
    until_both_heard(&mut a, &mut b, &mut rx, &mut n, 0, 1).await;
    accepted_a.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    accepted_b.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;

    let oversize_at = n;
    assert!(a.try_send(frame_of_size(b"a ", MAX + 1)));
    until_both_heard(&mut a, &mut b, &mut rx, &mut n, oversize_at, 20).await;

    // `a` was connected again. `b` was not: frames from `b` published after that arrive,
    // and a second connection to `b` would have been accepted before they could.
    accepted_a.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    let mended_at = n;
    until_both_heard(&mut a, &mut b, &mut rx, &mut n, mended_at, 5).await;
    assert_eq!(
        accepted_b.next_within(Duration::ZERO).await,
        None,
        "b was connected again: {:?}",
        accepted_b.seen
    );
    mending_logged(Role::Sub, &a.endpoint).await;
    assert!(runner.stats().reconnects >= 1, "{}", runner.stats());
    runner.stop().await;
}

/// Accepts one connection on `listener` and does the ZMTP 3.0 NULL handshake as a PUB: our
/// greeting and READY, then the subscriber's greeting and READY. Blocking, with `SAFETY` as
/// the timeout of every read and write.
fn zmtp_pub(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().expect("the subscriber connects");
    zmtp_handshake(stream, b"PUB", "subscriber")
}

/// A service's SUB connects to a ZMTP publisher over raw TCP that sends one frame over
/// `max_message_size` and then stops listening: the service's connection is lost and cannot be
/// made again, and its health is `warning` (with `reconnects` counting the loss) for as long
/// as that lasts; once a publisher listens at the address again, the service connects, its
/// health is `healthy` again, and it handles what is published. A service that did not count
/// the lost connection would stay `healthy` while deaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_warning_while_a_lost_connection_stays_lost() {
    capture();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let endpoint = format!("tcp://{}", listener.local_addr().expect("address"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = Runner::new(MendedSub { tx }).with_address(Role::Sub, endpoint.clone());
    runner.start().await.expect("start");
    let (listener, stream) = tokio::task::spawn_blocking(move || {
        let mut stream = zmtp_pub(&listener);
        stream
            .write_all(&zmtp_message(&frame_of_size(b"a ", MAX + 1)))
            .expect("send the oversize frame");
        (listener, stream)
    })
    .await
    .expect("publisher task");
    until("health warning after the loss", || {
        runner.status() == Status::Warning
    })
    .await;
    drop((listener, stream));
    assert!(runner.stats().reconnects >= 1, "{}", runner.stats());
    assert_eq!(runner.status(), Status::Warning, "{}", runner.stats());

    let mut publisher = Raw::bind_at(zmq::PUB, &endpoint);
    until("health healthy once connected again", || {
        runner.status() == Status::Healthy
    })
    .await;
    let mut n = 0u64;
    loop {
        assert!(
            n < 5_000,
            "the service never handled a frame after reconnecting"
        );
        n += 1;
        assert!(publisher.try_send(format!(r#"a {{"n":{n}}}"#)));
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(5), rx.recv()).await {
            break;
        }
    }
    runner.stop().await;
}

#[service(
    name = "GatedPull",
    pull = "inproc://overridden-by-the-test",
    stats_interval = "off"
)]
struct GatedPull {
    gate: Arc<tokio::sync::Notify>,
    tx: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl GatedPull {
    #[task]
    async fn t(&mut self, msg: Value) {
        let n = msg["n"].as_u64().expect("a numbered task");
        if n == 0 {
            self.gate.notified().await;
        }
        let _ = self.tx.send(n);
    }
}

/// A worker's PULL has received 900 tasks and is still handling the first when the PUSH that
/// sent them leaves (a peer's ordinary exit): every one of the 900 is handled, and the loss
/// is counted in `reconnects`. libzmq connects again by itself after such a loss; connecting
/// again over it (dropping the old connection) would discard what the socket had received
/// but not yet handed over, without a word: hundreds of tasks in some runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_leaves_loses_none_of_what_was_received() {
    capture();
    const TASKS: u64 = 900;
    let gate = Arc::new(tokio::sync::Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut pusher = Raw::bind(zmq::PUSH);
    let runner = Runner::new(GatedPull {
        gate: Arc::clone(&gate),
        tx,
    })
    .with_address(Role::Pull, pusher.endpoint.clone());
    runner.start().await.expect("start");
    let tasks: Vec<Vec<Vec<u8>>> = (0..TASKS)
        .map(|n| vec![format!(r#"{{"n":{n}}}"#).into_bytes()])
        .collect();
    pusher.send_all(tasks).await;
    pusher.close_flushing().await;
    gate.notify_one();
    let mut handled = BTreeSet::new();
    while handled.len() < TASKS as usize {
        match tokio::time::timeout(SAFETY, rx.recv()).await {
            Ok(Some(n)) => {
                handled.insert(n);
            }
            _ => panic!(
                "{} of {TASKS} tasks handled after the pusher left (stats: {})",
                handled.len(),
                runner.stats()
            ),
        }
    }
    until("the loss counted", || runner.stats().reconnects >= 1).await;
    runner.stop().await;
}

/// The same for a service's PULL connecting to a raw bound PUSH: after a task of
/// `max_message_size + 1` bytes the service connects again, and the tasks pushed after it are
/// delivered and handled (at least 60, in order; the few the PUSH had already routed to the
/// dropped connection are lost, as ZeroMQ does for any dropped connection).
/// `reconnects` counts it, the warning names the socket, health is `healthy` again. Without
/// the reconnect the raw PUSH would have no peer and every later push would wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_task_on_a_connecting_pull_is_mended_by_connecting_again() {
    capture();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let raw = Raw::new(zmq::PUSH);
    let mut accepted = raw.monitor(&[zmq::SocketEvent::ACCEPTED]);
    let mut pusher = raw.bind_to(ANY_PORT);
    let endpoint = pusher.endpoint.clone();
    let runner = Runner::new(MendedPull { tx }).with_address(Role::Pull, endpoint.clone());
    runner.start().await.expect("start");

    pusher.send(r#"{"n":0}"#).await;
    assert_eq!(next(&mut rx, "the first task").await, 0);
    accepted.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    assert_eq!(runner.stats().reconnects, 0);

    pusher.send(frame_of_size(br#"{"n":"#, MAX + 1)).await;
    let mut handled = Vec::new();
    let mut n = 0u64;
    while handled.len() < 60 {
        n += 1;
        assert!(n < 10_000, "pushed {n} tasks, handled only {handled:?}");
        // A push waits (up to `SAFETY`, then panics) while the raw PUSH has no peer: it
        // goes on only once the service has connected again.
        pusher.send(format!(r#"{{"n":{n}}}"#)).await;
        while let Ok(k) = rx.try_recv() {
            handled.push(k);
        }
    }
    assert!(
        handled.windows(2).all(|w| w[0] < w[1]),
        "tasks are handled in the order pushed, each once: {handled:?}"
    );
    accepted.wait_for(&[zmq::SocketEvent::ACCEPTED]).await;
    let stats = runner.stats();
    assert!(stats.reconnects >= 1, "reconnects counted: {stats}");
    mending_logged(Role::Pull, &endpoint).await;
    until("health back to healthy", || {
        runner.status() == Status::Healthy
    })
    .await;
    runner.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Log injection, through the real formatter
// ---------------------------------------------------------------------------------------------

/// The forged log line: after a newline, what the formatter writes at the start of a line.
const FORGED_TIME: &str = "2026-01-01T00:00:00.000000Z";

/// A forged line with marker `n`, its words separated by `sep` (a topic or a frame without a
/// space cannot hold spaces), followed by a terminal colour change and a carriage return.
fn forged(n: u32, sep: &str) -> String {
    format!("\n{FORGED_TIME}{sep}{sep}INFO{sep}FORGED-{n}{sep}all{sep}good\x1b[31m\r")
}

/// How forged line `n` must show in the log: escaped, on the line that quotes it.
fn forged_escaped(n: u32, sep: &str) -> String {
    format!(r"\n{FORGED_TIME}{sep}{sep}INFO{sep}FORGED-{n}{sep}all{sep}good\u{{1b}}[31m\r")
}

/// The markers with the word separator each uses, and where each enters the service. (Eight
/// of them are bad input, whose warnings the runtime writes at most 10 per 10 s per service:
/// more would be held back, not escaped.)
const INJECTIONS: [(u32, &str, &str); 10] = [
    (1, r"\t", "SUB frame without a space: dropping frame"),
    (2, " ", "SUB frame not UTF-8: dropping frame"),
    (3, " ", "unknown variant quoted by a decode error"),
    (4, " ", "trailing bytes after the JSON: preview"),
    (5, r"\t", "topic no handler takes: no handler (debug)"),
    (6, " ", "heartbeat's service name: liveness, final stats"),
    (7, " ", "malformed heartbeat on a watched topic"),
    (8, " ", "PULL task not JSON: message not handled"),
    (9, " ", "PULL task not UTF-8: dropping task"),
    (10, " ", "text of a handler's error"),
];

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Typed {
    Known,
}

#[derive(Debug, PartialEq)]
enum Seen {
    Probe(u64),
    Task(u64),
}

/// Subscribes to everything, watches `peer.heartbeat`, pulls tasks.
#[service(
    name = "Injected",
    sub = "inproc://overridden-by-the-test",
    pull = "inproc://overridden-by-the-test",
    topics = [""],
    watch = ["peer.heartbeat"],
    peer_interval = "60s",
    stats_interval = "off"
)]
struct Injected {
    tx: mpsc::UnboundedSender<Seen>,
}

#[handlers]
impl Injected {
    #[topic("probe")]
    async fn probe(&mut self, msg: Value) {
        let _ = self.tx.send(Seen::Probe(msg["n"].as_u64().expect("n")));
    }

    #[topic("typed")]
    async fn typed(&mut self, msg: Typed) {
        let _ = msg;
    }

    #[topic("fails")]
    async fn fails(&mut self, msg: Value) -> Result<(), String> {
        Err(msg["why"].as_str().unwrap_or_default().to_owned())
    }

    #[task]
    async fn task(&mut self, msg: Value) {
        let _ = self.tx.send(Seen::Task(msg["n"].as_u64().expect("n")));
    }
}

/// A JSON string literal holding `text` (control characters JSON-escaped: the decoded string
/// holds them raw).
fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("JSON string")
}

/// The child of [`peer_bytes_are_escaped_in_every_log_line`]: installs the real formatter
/// (`experimance::init_logging`, which writes to stderr, a file the parent reads), feeds a
/// service every injection of [`INJECTIONS`] from raw peers, waits until the service has
/// handled a probe sent after them, stops it (the final stats line names the peers) and says
/// `INJECTED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_log_injection() {
    if child_mode().as_deref() != Some("log_injection") {
        return;
    }
    experimance::init_logging();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let raw = Raw::new(zmq::PUB);
    raw.sock().set_sndhwm(100_000).expect("sndhwm");
    let mut publisher = raw.bind_to(ANY_PORT);
    let mut pusher = Raw::bind(zmq::PUSH);
    let runner = Runner::new(Injected { tx })
        .with_address(Role::Sub, publisher.endpoint.clone())
        .with_address(Role::Pull, pusher.endpoint.clone());
    runner.start().await.expect("start");

    // The slow joiner: probe until one is handled, then read the stragglers.
    let mut sent = 0;
    let mut last = loop {
        assert!(sent < 1_000, "the service never received a probe");
        sent += 1;
        publisher.send(format!(r#"probe {{"n":{sent}}}"#)).await;
        match tokio::time::timeout(Duration::from_millis(20), rx.recv()).await {
            Ok(Some(Seen::Probe(n))) => break n,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    };
    while last < sent {
        match next(&mut rx, "a straggling probe").await {
            Seen::Probe(n) => last = n,
            other => panic!("unexpected {other:?}"),
        }
    }

    let mut frames: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut frame = |bytes: Vec<u8>| frames.push(vec![bytes]);
    frame(format!("x{}", forged(1, "\t")).into_bytes());
    frame([format!("typed {}", forged(2, " ")).as_bytes(), b"\xff"].concat());
    frame(format!(r#"typed {{"type":{}}}"#, json_string(&forged(3, " "))).into_bytes());
    frame(format!(r#"typed {{"type":"Known"}}{}"#, forged(4, " ")).into_bytes());
    frame(format!("t{} {{}}", forged(5, "\t")).into_bytes());
    frame(
        format!(
            r#"peer.heartbeat {{"type":"Heartbeat","timestamp":1.0,"service":{},{}}}"#,
            json_string(&forged(6, " ")),
            r#""state":"running""#
        )
        .into_bytes(),
    );
    frame(format!(r#"peer.heartbeat {{"type":"Heartbeat"}}{}"#, forged(7, " ")).into_bytes());
    frame(format!(r#"fails {{"why":{}}}"#, json_string(&forged(10, " "))).into_bytes());
    frame(format!(r#"probe {{"n":{}}}"#, sent + 1).into_bytes());
    publisher.send_all(frames).await;
    assert_eq!(
        next(&mut rx, "the probe after the injections").await,
        Seen::Probe(sent + 1)
    );

    pusher.send(forged(8, " ")).await;
    pusher
        .send([forged(9, " ").as_bytes(), b"\xff"].concat())
        .await;
    pusher.send(r#"{"n":1}"#).await;
    assert_eq!(
        next(&mut rx, "the task after the injections").await,
        Seen::Task(1)
    );

    let stats = runner.stats();
    assert_eq!(
        stats.peers.len(),
        1,
        "the forged peer is followed: {stats:?}"
    );
    // Bad input: frames 1, 2, 3, 4, 7, 10 and tasks 8, 9 (frame 5 has no handler, 6 is fine).
    assert_eq!(stats.errors, 8, "{stats:?}");
    runner.stop().await;
    say("INJECTED");
}

/// Whether `line` starts as the formatter starts a line: `2026-05-04T12:34:56.123456Z `.
fn starts_with_timestamp(line: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.ddddddZ ";
    line.len() >= SHAPE.len()
        && SHAPE.iter().zip(line.as_bytes()).all(|(&s, &c)| {
            if s == b'd' {
                c.is_ascii_digit()
            } else {
                s == c
            }
        })
}

/// A child process logs through `experimance::init_logging` (the `tracing_subscriber::fmt`
/// formatter users see, colours off with `NO_COLOR`, `RUST_LOG=debug`) while raw peers send
/// its service newlines, carriage returns, `ESC[31m`, invalid UTF-8 and whole forged log lines
/// in every place the runtime logs peer text: a frame without a space and one that is not
/// UTF-8 (previews), a decode error quoting the peer's text, trailing bytes after the JSON, a
/// topic no handler takes, a heartbeat's service name (liveness change and final stats), a
/// malformed heartbeat, a task that is not JSON and one that is not UTF-8, and a handler's
/// error. In the captured output every line starts with the formatter's timestamp (none with
/// the forged one), there is no raw ESC byte and no carriage return, and each forged line
/// appears escaped (`\n2026-01-01T…` with a literal backslash). Any place that wrote peer
/// bytes raw would start a forged line or leave a control character in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_bytes_are_escaped_in_every_log_line() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let path = std::env::temp_dir().join(format!(
        "experimance-log-injection-{}-{nanos}.log",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).expect("create the log file");
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, "child_log_injection");
    command
        .env(CHILD_ENV, "log_injection")
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(file);
    let kid = Kid::start(command, "log_injection");
    let (status, lines) = kid.wait().await;
    let bytes = std::fs::read(&path).expect("read the log file");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        status.success() && lines.iter().any(|l| l.contains("INJECTED")),
        "the child failed ({status}); it printed {lines:#?} and logged:\n{text}"
    );

    assert!(
        !bytes.contains(&0x1b),
        "a raw ESC byte reached the log:\n{text}"
    );
    assert!(
        !bytes.contains(&b'\r'),
        "a raw carriage return reached the log:\n{text}"
    );
    assert!(
        std::str::from_utf8(&bytes).is_ok(),
        "the log is not UTF-8:\n{text}"
    );
    let mut count = 0;
    for line in text.lines() {
        count += 1;
        assert!(
            starts_with_timestamp(line),
            "a line that the formatter did not start (a forged or broken line): {line:?}\n\
             in:\n{text}"
        );
        assert!(
            !line.starts_with(FORGED_TIME),
            "a forged line: {line:?}\nin:\n{text}"
        );
    }
    for (n, sep, what) in INJECTIONS {
        let escaped = forged_escaped(n, sep);
        assert!(
            text.contains(&escaped),
            "injection {n} ({what}) is not in the log as {escaped:?}:\n{text}"
        );
    }
    // The peer name is in the liveness line and in the final stats line.
    let peer = forged_escaped(6, " ");
    assert!(
        text.matches(&peer).count() >= 2,
        "the forged peer name is not escaped in both the liveness and the final stats line:\n{text}"
    );
    // Every logging place was reached (else a marker could be missing for another reason).
    for message in [
        "dropping frame",
        "message not handled",
        "no handler",
        "peer liveness changed",
        "not a heartbeat on a watched topic",
        "dropping task",
        "final:",
    ] {
        assert!(text.contains(message), "no `{message}` line in:\n{text}");
    }
    // Invalid UTF-8 shows as `\xff`.
    assert!(text.contains(r"\xff"), "no `\\xff` in:\n{text}");
    eprintln!("{count} log lines checked");
}

// ---------------------------------------------------------------------------------------------
// The publisher of sections 3 and 4, in a child process
// ---------------------------------------------------------------------------------------------

/// A bound PUB: publishes `tick {"n": n}` every 10 ms when `ticking`, else nothing (but a
/// heartbeat at start) until told to.
#[service(
    name = "Served",
    pub = "inproc://overridden-by-the-test",
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
struct Served {
    ticking: bool,
    ticks: Arc<AtomicU64>,
    ctx: Option<oneshot::Sender<Context<Served>>>,
}

#[handlers]
impl Served {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        if let Some(tx) = self.ctx.take() {
            let _ = tx.send(ctx.clone());
        }
    }

    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        if !self.ticking {
            return Ok(());
        }
        let n = self.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        ctx.publish_to("tick", &json!({ "n": n })).await
    }
}

/// The child: runs [`Served`] (mode `ticking` or `quiet`) on `tcp://127.0.0.1:*`, says
/// `ENDPOINT <endpoint>`, then answers the parent's lines: `RSS` with
/// `RSS <VmRSS KiB> <VmHWM KiB> <ticks published>`, `PUBLISH` by publishing `ping {}` and
/// saying `PUBLISHED`, `STOP` by stopping and saying `STOPPED <status> <errors>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_publisher() {
    let ticking = match child_mode().as_deref() {
        Some("ticking") => true,
        Some("quiet") => false,
        _ => return,
    };
    let mut stdin = child_stdin();
    let ticks = Arc::new(AtomicU64::new(0));
    let (ctx_tx, ctx_rx) = oneshot::channel();
    let runner = Runner::new(Served {
        ticking,
        ticks: Arc::clone(&ticks),
        ctx: Some(ctx_tx),
    })
    .with_address(Role::Pub, ANY_PORT);
    runner.start().await.expect("start");
    let ctx = ctx_rx.await.expect("context");
    say(format_args!(
        "ENDPOINT {}",
        runner.endpoint(Role::Pub).expect("endpoint")
    ));
    while let Some(line) = stdin.recv().await {
        match line.as_str() {
            "RSS" => say(format_args!(
                "RSS {} {} {}",
                status_kib("VmRSS"),
                status_kib("VmHWM"),
                ticks.load(Ordering::Relaxed)
            )),
            "PUBLISH" => {
                ctx.publish_to("ping", &json!({})).await.expect("publish");
                say("PUBLISHED");
            }
            "STOP" => break,
            other => panic!("unexpected line {other:?}"),
        }
    }
    let status = runner.status();
    runner.stop().await;
    say(format_args!("STOPPED {status} {}", runner.stats().errors));
}

/// What the child publisher says about itself.
#[derive(Debug, Clone, Copy)]
struct Measure {
    rss_kib: u64,
    hwm_kib: u64,
    ticks: u64,
}

async fn measure(kid: &mut Kid) -> Measure {
    kid.tell("RSS");
    let line = kid.line("RSS ").await;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    let [rss_kib, hwm_kib, ticks] = fields[..] else {
        panic!("bad RSS line {line:?}")
    };
    Measure {
        rss_kib,
        hwm_kib,
        ticks,
    }
}

/// Stops the child publisher; it must exit cleanly, still healthy.
async fn stop_publisher(mut kid: Kid) {
    kid.tell("STOP");
    let stopped = kid.line("STOPPED").await;
    let (status, lines) = kid.wait().await;
    assert!(status.success(), "the publisher failed: {lines:#?}");
    assert!(
        stopped.starts_with("healthy"),
        "the publisher was not healthy at the end: {stopped}"
    );
}

/// The `n` of a `tick {"n": n}` frame.
fn tick_number(frame: &[u8]) -> u64 {
    let text = std::str::from_utf8(frame).expect("UTF-8 frame");
    let json = text.strip_prefix("tick ").expect("a tick");
    serde_json::from_str::<Value>(json).expect("JSON")["n"]
        .as_u64()
        .expect("n")
}

// ---------------------------------------------------------------------------------------------
// 3. A 16 MiB subscription
// ---------------------------------------------------------------------------------------------

/// The bound on the publisher's memory growth while it is sent 16 MiB subscriptions.
const SUBSCRIPTION_BOUND_KIB: u64 = 64 * 1024;

/// Does the ZMTP handshake with the publisher at `port`, sends one 16 MiB subscription
/// (`0x01` and 16 MiB of a letter that differs by `round`) as one message, and returns how
/// the publisher dropped the connection; panics if it did not within `SAFETY`.
fn subscription_bomb(port: u16, round: u8) -> String {
    let mut stream = zmtp_sub(port);
    let mut body = vec![b'a' + round; 16 * 1024 * 1024 + 1];
    body[0] = 1;
    let wrote = stream.write_all(&zmtp_message(&body));
    drop(body);
    let how = dropped(&mut stream, "a 16 MiB subscription");
    format!("{how} (write: {wrote:?})")
}

/// How the publisher dropped the subscriber on `stream` (`closed` or `reset`); panics if it
/// sent it anything, or kept it for `SAFETY`, after `what` it sent.
fn dropped(stream: &mut TcpStream, what: &str) -> &'static str {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => "closed",
        Ok(n) => panic!(
            "the publisher sent {:?} to a subscriber it should drop",
            &buf[..n]
        ),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
            ) =>
        {
            "reset"
        }
        Err(e) => panic!(
            "the publisher did not drop a subscriber that sent {what} within {SAFETY:?}: {e}"
        ),
    }
}

/// Runs `attack` (against the port, with the round number) four times against a ticking
/// publisher in a child process: after each, a well-behaved raw SUB receives a tick published
/// after it, in order; at the end the publisher's peak resident memory is within
/// [`SUBSCRIPTION_BOUND_KIB`] of where it started, and it stops cleanly.
async fn publisher_bounded_under(what: &str, attack: fn(u16, u8) -> String) {
    let mut kid = spawn_child("child_publisher", "ticking", &[]);
    let endpoint = kid.line("ENDPOINT").await;
    let port = port_of(&endpoint);
    let mut good = Raw::sub(&endpoint, &["tick"]);
    let mut last = tick_number(&good.recv().await);
    let before = measure(&mut kid).await;

    for round in 0..4u8 {
        let how = tokio::task::spawn_blocking(move || attack(port, round))
            .await
            .expect("attack task");
        // A tick published after the drop reaches the well-behaved subscriber.
        let published = measure(&mut kid).await.ticks;
        loop {
            let n = tick_number(&good.recv().await);
            assert!(n > last, "ticks arrive in order: {n} after {last}");
            last = n;
            if n > published {
                break;
            }
        }
        eprintln!("{what} {round}: {how}; tick {last} received after it");
    }

    let after = measure(&mut kid).await;
    eprintln!(
        "publisher VmRSS {} KiB before, {} KiB after, VmHWM {} KiB",
        before.rss_kib, after.rss_kib, after.hwm_kib
    );
    assert!(
        after.hwm_kib.saturating_sub(before.rss_kib) < SUBSCRIPTION_BOUND_KIB,
        "the publisher's peak resident memory grew by {} KiB (bound {SUBSCRIPTION_BOUND_KIB} KiB)",
        after.hwm_kib - before.rss_kib
    );
    stop_publisher(kid).await;
}

/// A service with a bound PUB publishing a tick every 10 ms (in a child process) is sent a
/// 16 MiB subscription four times, each by a raw ZMTP peer over TCP. libzmq refuses each
/// while reading its header (`max_subscription_size`, a few hundred bytes by default) and
/// drops the peer, so the publisher's peak resident memory stays within 64 MiB of where it
/// started; a well-behaved raw SUB receives ticks published after each drop. A publisher
/// that buffered the subscriptions (or built them into its subscription trie, a node per
/// byte) would grow by far more than 64 MiB, and one that did not drop the peer would fail
/// the drop check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_subscription_is_refused_without_buffering_and_others_keep_receiving() {
    publisher_bounded_under("16 MiB subscription", subscription_bomb).await;
}

/// Does the ZMTP handshake with the publisher at `port` and sends up to `count` distinct
/// subscriptions (`flood<round>-<i>`) as fast as the connection takes them; returns how the
/// publisher dropped the connection and after how many; panics if it did not within `SAFETY`
/// of the last one.
fn subscription_flood(port: u16, round: u8, count: u32) -> String {
    let mut stream = zmtp_sub(port);
    let mut batch = Vec::with_capacity(80 * 1024);
    for i in 0..count {
        batch.extend(zmtp_message(format!("\x01flood{round}-{i:07}").as_bytes()));
        if batch.len() >= 64 * 1024 || i + 1 == count {
            if let Err(e) = stream.write_all(&batch) {
                return format!("dropped while writing subscription {i}: {e}");
            }
            batch.clear();
        }
    }
    let how = dropped(&mut stream, &format!("{count} distinct subscriptions"));
    format!("{how} after all {count}")
}

/// The same publisher is sent 200,000 distinct subscriptions, four times, each by a raw ZMTP
/// peer over TCP. Past the service's budget (`max_subscriptions`, 10,000 by default) the
/// subscriber holding the most is disconnected, which frees what libzmq kept for it: the
/// publisher's peak resident memory stays within 64 MiB of where it started, and a
/// well-behaved raw SUB receives ticks published after each flood. Without the budget libzmq
/// keeps every distinct subscription for as long as the connection lives (about 1.4 KiB each
/// was measured: 800,000 of them are gigabytes), and nothing drops the flooding peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_subscriptions_is_cut_off_at_the_budget() {
    publisher_bounded_under("subscription flood", |port, round| {
        subscription_flood(port, round, 200_000)
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Handshake churn
// ---------------------------------------------------------------------------------------------

/// The bound on the quiet publisher's memory growth over 10,000 connect/close cycles.
const CHURN_BOUND_KIB: u64 = 5 * 1024;

/// The cycles before the first measure: the allocator's pools and libzmq's reach their
/// working size.
const WARM_UP: u32 = 2_000;

/// `cycles` times: connect to `port`, do the ZMTP handshake as a SUB, subscribe to `tick`,
/// close.
fn churn(port: u16, cycles: u32) {
    let subscribe = zmtp_message(b"\x01tick");
    for _ in 0..cycles {
        let mut stream = zmtp_sub(port);
        stream.write_all(&subscribe).expect("subscribe");
    }
}

/// A service with a bound PUB that publishes nothing (in a child process) goes through
/// 10,000 ZMTP connect/handshake/subscribe/close cycles by raw TCP peers after a warm-up of
/// 2,000: its resident memory grows by less than 5 MiB, and it still delivers to a subscriber
/// afterwards. libzmq frees a closed connection's pipes only when the socket processes its
/// commands, which the runtime used to make it do only when publishing: a publisher that
/// publishes nothing kept every closed connection (and every subscription, `xpub_verbose`,
/// queued for reading) until its next publish, about 11 KiB per cycle (see the control
/// below).
///
/// The service frees each closed connection as soon as its subscription reader runs; a
/// machine busy enough to hold that reader back for hundreds of cycles leaves a backlog
/// whose memory the allocator may keep (seen once at +8 MiB under other builds' load,
/// typically +0.1 to +1.5 MiB). So a first measure over the bound is followed by a second
/// 10,000 cycles, which must then stay under it: a leak grows in every phase, a one-off
/// backlog does not recur as a growth from the new level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_handshakes_do_not_grow_a_quiet_publisher() {
    let mut kid = spawn_child("child_publisher", "quiet", &[]);
    let endpoint = kid.line("ENDPOINT").await;
    let port = port_of(&endpoint);

    tokio::task::spawn_blocking(move || churn(port, WARM_UP))
        .await
        .expect("warm-up");
    let mut grown = Vec::new();
    for _phase in 0..2 {
        let before = measure(&mut kid).await;
        tokio::task::spawn_blocking(move || churn(port, 10_000))
            .await
            .expect("churn");
        let after = measure(&mut kid).await;
        let phase = after.rss_kib.saturating_sub(before.rss_kib);
        eprintln!(
            "quiet publisher VmRSS {} KiB before, {} KiB after 10,000 cycles (+{phase} KiB)",
            before.rss_kib, after.rss_kib
        );
        grown.push(phase);
        if phase < CHURN_BOUND_KIB {
            break;
        }
    }
    assert!(
        grown.last().is_some_and(|&kib| kib < CHURN_BOUND_KIB),
        "the publisher's resident memory grew by {grown:?} KiB over each 10,000 handshakes \
         (bound {CHURN_BOUND_KIB} KiB)"
    );

    // It still serves: a subscriber gets a message published after it connected.
    let mut sub = Raw::sub(&endpoint, &["ping"]);
    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries < 400, "the subscriber never received a ping");
        kid.tell("PUBLISH");
        kid.line("PUBLISHED").await;
        if let Some(parts) = sub.recv_within(Duration::from_millis(50)).await {
            assert_eq!(parts, vec![b"ping {}".to_vec()]);
            break;
        }
    }
    stop_publisher(kid).await;
}

/// The child of the control below: a plain libzmq XPUB (verbose, with a small maximum message
/// size, as the service's) bound on `tcp://127.0.0.1:*` that nobody ever reads; says
/// `ENDPOINT <endpoint>` and answers `RSS` as [`child_publisher`] does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_unread_xpub() {
    if child_mode().as_deref() != Some("unread_xpub") {
        return;
    }
    let mut stdin = child_stdin();
    let raw = Raw::new(zmq::XPUB);
    raw.sock().set_xpub_verbose(true).expect("verbose");
    raw.sock().set_maxmsgsize(1024).expect("maxmsgsize");
    let raw = raw.bind_to(ANY_PORT);
    say(format_args!("ENDPOINT {}", raw.endpoint));
    while let Some(line) = stdin.recv().await {
        match line.as_str() {
            "RSS" => say(format_args!(
                "RSS {} {} 0",
                status_kib("VmRSS"),
                status_kib("VmHWM")
            )),
            other => panic!("unexpected line {other:?}"),
        }
    }
}

/// The control of [`ten_thousand_handshakes_do_not_grow_a_quiet_publisher`]: the same warm-up
/// and first 10,000 cycles against a bare libzmq XPUB that nobody reads (what the service's PUB was
/// between publishes before its commands were processed continuously) grow its resident
/// memory by more than the 5 MiB bound (about 11 KiB per cycle, 110 MiB in all, with the
/// vendored libzmq 4.3). It shows that the churn really completes handshakes and leaves what
/// the bound is about; it fails if the churn stops reaching that state (a refused or
/// unfinished handshake), which would make the service's test pass for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_the_same_churn_grows_an_xpub_that_nobody_reads() {
    let mut kid = spawn_child("child_unread_xpub", "unread_xpub", &[]);
    let endpoint = kid.line("ENDPOINT").await;
    let port = port_of(&endpoint);
    tokio::task::spawn_blocking(move || churn(port, WARM_UP))
        .await
        .expect("warm-up");
    let before = measure(&mut kid).await;
    tokio::task::spawn_blocking(move || churn(port, 10_000))
        .await
        .expect("churn");
    let after = measure(&mut kid).await;
    let grown = after.rss_kib.saturating_sub(before.rss_kib);
    eprintln!(
        "unread XPUB VmRSS {} KiB before, {} KiB after 10,000 cycles (+{grown} KiB)",
        before.rss_kib, after.rss_kib
    );
    assert!(
        grown > CHURN_BOUND_KIB,
        "an XPUB that nobody reads grew by only {grown} KiB over 10,000 handshakes: the churn \
         no longer exercises what the bound of the service's test is about"
    );
}
