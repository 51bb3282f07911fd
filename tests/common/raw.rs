//! Raw libzmq peers, shared by every support module of the integration tests: a plain
//! `zmq` socket playing the foreign (Python) side. The `zmq` API blocks, so every blocking
//! call runs on tokio's blocking pool with a receive/send timeout as its safety net.
//!
//! The including module provides `SAFETY` (the safety net of every wait, which differs
//! between the test suites), so this file is included as a submodule of `common`,
//! `reliability_support` and `liveness_support` alike (the latter two with `#[path]`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::SAFETY;

/// A bind address with a port chosen by the system.
pub const ANY_PORT: &str = "tcp://127.0.0.1:*";

/// A libzmq socket in its own context, playing a foreign peer.
pub struct Raw {
    sock: Option<zmq::Socket>,
    context: zmq::Context,
    /// The endpoint bound (with its real port) or connected to.
    pub endpoint: String,
}

static MONITORS: AtomicUsize = AtomicUsize::new(0);

impl Raw {
    /// A socket of `kind`, linger 0, send timeout `SAFETY`; not yet bound or connected.
    pub fn new(kind: zmq::SocketType) -> Raw {
        let context = zmq::Context::new();
        let sock = context.socket(kind).expect("create raw socket");
        sock.set_linger(0).expect("set linger");
        sock.set_sndtimeo(SAFETY.as_millis() as i32)
            .expect("set send timeout");
        Raw {
            sock: Some(sock),
            context,
            endpoint: String::new(),
        }
    }

    /// Binds `tcp://127.0.0.1:*` and records the port it got.
    pub fn bind(kind: zmq::SocketType) -> Raw {
        Raw::new(kind).bind_to(ANY_PORT)
    }

    /// Binds `address`.
    pub fn bind_at(kind: zmq::SocketType, address: &str) -> Raw {
        Raw::new(kind).bind_to(address)
    }

    /// Connects to `endpoint`.
    pub fn connect(kind: zmq::SocketType, endpoint: &str) -> Raw {
        Raw::new(kind).connect_to(endpoint)
    }

    /// A SUB connected to `endpoint` and subscribed to `prefixes`.
    pub fn sub(endpoint: &str, prefixes: &[&str]) -> Raw {
        let raw = Raw::connect(zmq::SUB, endpoint);
        for prefix in prefixes {
            raw.subscribe(prefix);
        }
        raw
    }

    /// The socket, to set options before binding or connecting.
    pub fn sock(&self) -> &zmq::Socket {
        self.sock.as_ref().expect("socket")
    }

    /// Binds this socket to `address` and records the endpoint it got.
    pub fn bind_to(mut self, address: &str) -> Raw {
        self.sock().bind(address).expect("bind raw socket");
        self.endpoint = self
            .sock()
            .get_last_endpoint()
            .expect("last endpoint")
            .expect("endpoint is UTF-8");
        self
    }

    /// Connects this socket to `endpoint`.
    pub fn connect_to(mut self, endpoint: &str) -> Raw {
        self.sock().connect(endpoint).expect("connect raw socket");
        self.endpoint = endpoint.to_owned();
        self
    }

    pub fn subscribe(&self, prefix: &str) {
        self.sock()
            .set_subscribe(prefix.as_bytes())
            .expect("subscribe");
    }

    /// Starts monitoring `events` (a mask of [`zmq::SocketEvent`]s); call before connecting.
    pub fn monitor(&self, events: &[zmq::SocketEvent]) -> Monitor {
        let mask = events.iter().fold(0i32, |m, e| m | e.to_raw() as i32);
        let n = MONITORS.fetch_add(1, Ordering::Relaxed);
        let address = format!("inproc://raw-monitor-{n}");
        self.sock().monitor(&address, mask).expect("monitor");
        let pair = self.context.socket(zmq::PAIR).expect("monitor socket");
        pair.set_linger(0).expect("linger");
        pair.connect(&address).expect("connect monitor");
        Monitor {
            sock: Some(pair),
            seen: Vec::new(),
        }
    }

    /// Sends one single-frame message (waiting up to `SAFETY` for room).
    pub async fn send(&mut self, frame: impl Into<Vec<u8>>) {
        self.send_all(vec![vec![frame.into()]]).await;
    }

    /// Sends one message of several frames.
    pub async fn send_parts(&mut self, parts: Vec<Vec<u8>>) {
        self.send_all(vec![parts]).await;
    }

    /// Sends one frame without waiting; `false` if libzmq could not take it now.
    pub fn try_send(&mut self, frame: impl Into<Vec<u8>>) -> bool {
        match self.sock().send(frame.into(), zmq::DONTWAIT) {
            Ok(()) => true,
            Err(zmq::Error::EAGAIN) => false,
            Err(e) => panic!("raw send failed: {e}"),
        }
    }

    /// Sends many messages (each a list of frames) in one trip to the blocking pool.
    pub async fn send_all(&mut self, messages: Vec<Vec<Vec<u8>>>) {
        let sock = self.sock.take().expect("socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            let mut result = Ok(());
            for parts in messages {
                result = sock.send_multipart(parts, 0);
                if result.is_err() {
                    break;
                }
            }
            (sock, result)
        })
        .await
        .expect("send task");
        self.sock = Some(sock);
        result.expect("raw send (timed out?)");
    }

    /// The frames of the next message, if one arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Vec<Vec<u8>>> {
        let sock = self.sock.take().expect("socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            sock.set_rcvtimeo(wait.as_millis() as i32)
                .expect("set receive timeout");
            let result = sock.recv_multipart(0);
            (sock, result)
        })
        .await
        .expect("receive task");
        self.sock = Some(sock);
        match result {
            Ok(parts) => Some(parts),
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("raw receive failed: {e}"),
        }
    }

    /// The next message, which must be a single frame; panics after `SAFETY`.
    pub async fn recv(&mut self) -> Vec<u8> {
        let mut parts = self
            .recv_within(SAFETY)
            .await
            .unwrap_or_else(|| panic!("no message on the raw socket within {SAFETY:?}"));
        assert_eq!(
            parts.len(),
            1,
            "the protocol has exactly one frame per message, got {parts:?}"
        );
        parts.remove(0)
    }

    /// The next message that does not start with `skip` (e.g. heartbeats).
    pub async fn recv_skipping(&mut self, skip: &str) -> Vec<u8> {
        loop {
            let frame = self.recv().await;
            if !frame.starts_with(skip.as_bytes()) {
                return frame;
            }
        }
    }

    /// Closes the socket and terminates its context with an infinite linger: returns once
    /// libzmq has handed every queued message to the kernel. Drop its monitors first (an open
    /// monitor socket would keep the context alive).
    pub async fn close_flushing(self) {
        tokio::task::spawn_blocking(move || {
            let mut raw = self;
            if let Some(sock) = raw.sock.take() {
                sock.set_linger(-1).expect("linger");
            }
            // Dropping the last handle terminates the context, which waits for the flush.
            drop(raw);
        })
        .await
        .expect("close task");
    }
}

/// The monitor of a [`Raw`] socket: its connection events.
pub struct Monitor {
    sock: Option<zmq::Socket>,
    /// Every event received so far.
    pub seen: Vec<zmq::SocketEvent>,
}

impl Monitor {
    /// The next event, if one comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<zmq::SocketEvent> {
        let sock = self.sock.take().expect("monitor socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            sock.set_rcvtimeo(wait.as_millis() as i32)
                .expect("receive timeout");
            let result = sock.recv_multipart(0);
            (sock, result)
        })
        .await
        .expect("monitor task");
        self.sock = Some(sock);
        match result {
            Ok(parts) => {
                let raw = u16::from_le_bytes([parts[0][0], parts[0][1]]);
                let event = zmq::SocketEvent::from_raw(raw);
                self.seen.push(event);
                Some(event)
            }
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("monitor receive failed: {e}"),
        }
    }

    /// Waits for the first event in `wanted`; panics after `SAFETY`.
    /// Waits for the next handshake to end (the monitor must watch [`HANDSHAKE_ENDS`]) and
    /// fails unless it was refused. libzmq (4.3) does not retry a connection whose handshake
    /// was refused, so no message of that peer can ever get through.
    pub async fn expect_refused(&mut self, who: &str) {
        let event = self.wait_for(&HANDSHAKE_ENDS).await;
        assert_ne!(
            event,
            zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
            "{who} must be refused"
        );
    }

    pub async fn wait_for(&mut self, wanted: &[zmq::SocketEvent]) -> zmq::SocketEvent {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Some(e) if wanted.contains(&e) => return e,
                Some(_) => {}
                None => panic!(
                    "none of {wanted:?} within {SAFETY:?}; monitor saw {:?}",
                    self.seen
                ),
            }
        }
    }
}

/// The monitor events that say a handshake was refused.
pub const HANDSHAKE_FAILED: [zmq::SocketEvent; 3] = [
    zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
];

/// The monitor events that end a handshake: it succeeded, or it was refused.
pub const HANDSHAKE_ENDS: [zmq::SocketEvent; 4] = [
    zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
    HANDSHAKE_FAILED[0],
    HANDSHAKE_FAILED[1],
    HANDSHAKE_FAILED[2],
];
