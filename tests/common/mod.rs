//! Shared helpers of the integration tests: raw `zmq` peers ([`raw`], also used by
//! `reliability_support`), child processes re-executed from the test binary ([`child`], also
//! used by `reliability_support` and `liveness_support`), an event channel that handlers
//! report into, a relay that lets a test publish or push through a running service, and the
//! probe loops that wait (on events, never on sleeps) until a PUB/SUB subscription is live.
#![allow(dead_code)]

use std::time::Duration;

use experimance::{Context, HasPub, HasPush};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

pub mod built;
pub mod child;
pub mod raw;
pub mod wait;

#[allow(unused_imports)] // each test file uses part of the shared helpers
pub use raw::{Raw, ANY_PORT};

/// The safety net of every wait (also of the shared [`raw`] and [`child`] helpers): a test
/// that gets here has failed, it did not just run slowly.
pub const SAFETY: Duration = Duration::from_secs(10);

/// How long one probe waits for its echo before the next probe is sent.
pub const PROBE_WAIT: Duration = Duration::from_millis(100);

/// How many probes are sent before a subscription is declared dead.
const MAX_PROBES: u64 = 100;

// ---------------------------------------------------------------------------------------------
// Events reported by handlers
// ---------------------------------------------------------------------------------------------

/// Something a handler, hook, timer or task saw: which one (`what`), the topic if any, and the
/// message.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub what: String,
    pub topic: String,
    pub body: Value,
}

impl Event {
    pub fn new(what: &str, topic: &str, body: Value) -> Event {
        Event {
            what: what.to_owned(),
            topic: topic.to_owned(),
            body,
        }
    }

    /// The number of a probe event.
    pub fn probe_number(&self) -> Option<u64> {
        (self.what == "probe")
            .then(|| self.body["n"].as_u64())
            .flatten()
    }
}

/// The sending half, held by a service.
#[derive(Clone)]
pub struct Tx(mpsc::UnboundedSender<Event>);

impl Tx {
    pub fn send(&self, what: &str, topic: &str, body: Value) {
        // The test may have finished already; nothing to report to then.
        let _ = self.0.send(Event::new(what, topic, body));
    }

    pub fn note(&self, what: &str) {
        self.send(what, "", Value::Null);
    }
}

/// The receiving half, held by the test.
pub struct Events(mpsc::UnboundedReceiver<Event>);

pub fn events() -> (Tx, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Tx(tx), Events(rx))
}

impl Events {
    /// The next event; panics after [`SAFETY`].
    pub async fn next(&mut self) -> Event {
        match timeout(SAFETY, self.0.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("every event sender is gone (did the service stop?)"),
            Err(_) => panic!("no event within {SAFETY:?}"),
        }
    }

    /// The next event that is not a probe (stray probes may follow a subscription check).
    pub async fn next_non_probe(&mut self) -> Event {
        loop {
            let event = self.next().await;
            if event.what != "probe" {
                return event;
            }
        }
    }

    /// The next non-probe event, which must be a `what` event.
    pub async fn expect(&mut self, what: &str) -> Event {
        let event = self.next_non_probe().await;
        assert_eq!(event.what, what, "expected a `{what}` event, got {event:?}");
        event
    }

    /// The next event if one comes within `wait`.
    pub async fn within(&mut self, wait: Duration) -> Option<Event> {
        timeout(wait, self.0.recv()).await.ok().flatten()
    }

    /// Events already queued, without waiting.
    pub fn drain_now(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(event) = self.0.try_recv() {
            out.push(event);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Frames of raw zmq peers (the peers themselves: [`raw`])
// ---------------------------------------------------------------------------------------------

/// Splits `<topic> <json>` for assertions; panics on a malformed frame.
pub fn split(frame: &[u8]) -> (String, Value) {
    let text = std::str::from_utf8(frame).expect("frame is UTF-8");
    let (topic, json) = text
        .split_once(' ')
        .unwrap_or_else(|| panic!("frame without a space: {text:?}"));
    let value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("frame payload is not JSON ({e}): {text:?}"));
    (topic.to_owned(), value)
}

pub fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Relay: the test publishes/pushes through a running service
// ---------------------------------------------------------------------------------------------

/// What the test asks a service to send.
#[derive(Debug)]
pub enum Out {
    PublishTo(String, Value),
    Publish(Value),
    Push(Value),
}

type Request = (Out, oneshot::Sender<Result<(), experimance::Error>>);

/// The test's end of the relay.
#[derive(Clone)]
pub struct Outlet(mpsc::UnboundedSender<Request>);

/// The service's end of the relay: keep it in the service as `Option<Inlet>` and hand it to
/// one of the `serve_*` functions in `#[on_start]`.
pub struct Inlet(mpsc::UnboundedReceiver<Request>);

pub fn relay() -> (Outlet, Inlet) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Outlet(tx), Inlet(rx))
}

impl Outlet {
    async fn request(&self, out: Out) -> Result<(), experimance::Error> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send((out, reply))
            .expect("the service's relay task is gone (did the service stop?)");
        timeout(SAFETY, answer)
            .await
            .expect("relay did not answer in time")
            .expect("relay dropped the request")
    }

    /// `ctx.publish_to(topic, body)` inside the service.
    pub async fn publish_to(&self, topic: &str, body: Value) -> Result<(), experimance::Error> {
        self.request(Out::PublishTo(topic.to_owned(), body)).await
    }

    /// `ctx.publish(body)` inside the service.
    pub async fn publish(&self, body: Value) -> Result<(), experimance::Error> {
        self.request(Out::Publish(body)).await
    }

    /// `ctx.push(body)` inside the service.
    pub async fn push(&self, body: Value) -> Result<(), experimance::Error> {
        self.request(Out::Push(body)).await
    }
}

/// Serves a relay for a service with a PUB socket.
pub fn serve_pub<S: HasPub>(ctx: &Context<S>, inlet: Inlet) {
    let ctx = ctx.clone();
    serve(ctx.clone(), inlet, move |out| {
        let ctx = ctx.clone();
        async move {
            match out {
                Out::PublishTo(topic, body) => ctx.publish_to(&topic, &body).await,
                Out::Publish(body) => ctx.publish(&body).await,
                Out::Push(_) => panic!("this service has no PUSH socket"),
            }
        }
    });
}

/// Serves a relay for a service with a PUSH socket.
pub fn serve_push<S: HasPush>(ctx: &Context<S>, inlet: Inlet) {
    let ctx = ctx.clone();
    serve(ctx.clone(), inlet, move |out| {
        let ctx = ctx.clone();
        async move {
            match out {
                Out::Push(body) => ctx.push(&body).await,
                other => panic!("this service has no PUB socket: {other:?}"),
            }
        }
    });
}

/// Serves a relay for a service with PUB and PUSH sockets.
pub fn serve_pub_push<S: HasPub + HasPush>(ctx: &Context<S>, inlet: Inlet) {
    let ctx = ctx.clone();
    serve(ctx.clone(), inlet, move |out| {
        let ctx = ctx.clone();
        async move {
            match out {
                Out::PublishTo(topic, body) => ctx.publish_to(&topic, &body).await,
                Out::Publish(body) => ctx.publish(&body).await,
                Out::Push(body) => ctx.push(&body).await,
            }
        }
    });
}

fn serve<S, F, Fut>(ctx: Context<S>, mut inlet: Inlet, send: F)
where
    S: experimance::Service,
    F: Fn(Out) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), experimance::Error>> + Send,
{
    ctx.spawn("test-relay", async move {
        while let Some((out, reply)) = inlet.0.recv().await {
            let _ = reply.send(send(out).await);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Waiting until a subscription is live (the slow-joiner problem), on events only
// ---------------------------------------------------------------------------------------------

/// A raw PUB feeds a service's SUB, whose `#[topic("probe")]` handler reports
/// `Event { what: "probe", body: {"n": n} }`. Publishes numbered probes until one is handled,
/// then waits for the stragglers, so that afterwards no probe is in flight. Returns how many
/// probes the service handled.
pub async fn sync_service_sub(raw_pub: &mut Raw, events: &mut Events) -> u64 {
    let mut sent = 0;
    let first = loop {
        assert!(
            sent < MAX_PROBES,
            "the service's SUB never received a probe from {}",
            raw_pub.endpoint
        );
        sent += 1;
        raw_pub.send(format!("probe {{\"n\":{sent}}}")).await;
        if let Some(event) = events.within(PROBE_WAIT).await {
            break event
                .probe_number()
                .unwrap_or_else(|| panic!("expected a probe event, got {event:?}"));
        }
    };
    // Once probe `first` got through, the subscription is live: every later probe arrives too.
    let mut handled = 1;
    let mut last = first;
    while last < sent {
        let event = events.next().await;
        last = event
            .probe_number()
            .unwrap_or_else(|| panic!("expected a probe event, got {event:?}"));
        handled += 1;
    }
    handled
}

/// A service publishes through `outlet` to a raw SUB subscribed to `probe`. Publishes numbered
/// probes until the raw SUB sees one, then reads the stragglers. Returns how many probes the
/// service published. Frames on other topics are returned in `others`.
pub async fn sync_raw_sub(outlet: &Outlet, raw_sub: &mut Raw) -> (u64, Vec<Vec<u8>>) {
    let mut sent = 0;
    let mut others = Vec::new();
    let probe_number = |frame: &[u8]| -> Option<u64> {
        if !frame.starts_with(b"probe ") {
            return None;
        }
        Some(split(frame).1["n"].as_u64().expect("probe number"))
    };
    let mut last = 'probing: loop {
        assert!(
            sent < MAX_PROBES,
            "the raw SUB never received a probe from {}",
            raw_sub.endpoint
        );
        sent += 1;
        outlet
            .publish_to("probe", json!({ "n": sent }))
            .await
            .expect("publish probe");
        while let Some(parts) = raw_sub.recv_within(PROBE_WAIT).await {
            assert_eq!(parts.len(), 1, "one frame per message");
            match probe_number(&parts[0]) {
                Some(n) => break 'probing n,
                None => others.push(parts[0].clone()),
            }
        }
    };
    while last < sent {
        let frame = raw_sub.recv().await;
        match probe_number(&frame) {
            Some(n) => last = n,
            None => others.push(frame),
        }
    }
    (sent, others)
}

/// A unique `ipc://` endpoint for this process and `tag`.
pub fn ipc_endpoint(tag: &str) -> String {
    let dir = std::env::temp_dir();
    format!(
        "ipc://{}/experimance-test-{}-{tag}.sock",
        dir.display(),
        std::process::id()
    )
}
