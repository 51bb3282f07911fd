//! The send path (issue 5): PUB frames below and above the size that libzmq takes over
//! without a copy arrive whole and in order, and pushes around it too.

use std::time::Duration;

use experimance::{handlers, service, Context, Role, Runner};
use serde_json::json;
use tokio::sync::mpsc;

const SAFETY: Duration = Duration::from_secs(10);

/// What the test asks the service to send: on PUB a topic and a padding length, on PUSH a
/// padding length.
enum Send {
    Publish(&'static str, usize),
    Push(usize),
}

#[service(pub = "tcp://127.0.0.1:*", push = "tcp://127.0.0.1:*")]
struct Sender {
    requests: Option<mpsc::UnboundedReceiver<Send>>,
}

#[handlers]
impl Sender {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        let Some(mut requests) = self.requests.take() else {
            return;
        };
        let ctx2 = ctx.clone();
        ctx.spawn("send", async move {
            while let Some(request) = requests.recv().await {
                match request {
                    Send::Publish(topic, len) => {
                        ctx2.publish_to(topic, &json!({"pad": "x".repeat(len)}))
                            .await?
                    }
                    Send::Push(len) => ctx2.push(&json!({"pad": "y".repeat(len)})).await?,
                }
            }
            Ok::<(), experimance::Error>(())
        });
    }
}

fn raw(kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let context = zmq::Context::new();
    let socket = context.socket(kind).expect("socket");
    socket.set_linger(0).expect("linger");
    socket
        .set_rcvtimeo(SAFETY.as_millis() as i32)
        .expect("rcvtimeo");
    if kind == zmq::SUB {
        socket.set_subscribe(b"probe").expect("subscribe");
        socket.set_subscribe(b"big").expect("subscribe");
    }
    socket.connect(endpoint).expect("connect");
    socket
}

async fn recv(socket: zmq::Socket) -> (zmq::Socket, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let frame = socket.recv_bytes(0).expect("a frame within the safety net");
        (socket, frame)
    })
    .await
    .expect("receiver")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_every_size_arrive_whole_and_in_order() {
    let (requests, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Sender { requests: Some(rx) })
        .with_address(Role::Pub, "tcp://127.0.0.1:*")
        .with_address(Role::Push, "tcp://127.0.0.1:*");
    runner.start().await.expect("start");

    // PUB: probe until the subscription is live, then frames around the zero-copy size.
    let mut sub = raw(zmq::SUB, &runner.endpoint(Role::Pub).expect("pub endpoint"));
    sub.set_rcvtimeo(100).expect("rcvtimeo");
    let deadline = tokio::time::Instant::now() + SAFETY;
    loop {
        requests.send(Send::Publish("probe", 1)).expect("service");
        let (back, frame) = tokio::task::spawn_blocking(move || {
            let frame = sub.recv_bytes(0).ok();
            (sub, frame)
        })
        .await
        .expect("probe");
        sub = back;
        if frame.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no probe came back");
    }
    sub.set_rcvtimeo(SAFETY.as_millis() as i32)
        .expect("rcvtimeo");
    // Stray probes still in flight come first; the sizes follow in order.
    let sizes = [
        10,
        16 * 1024 - 100,
        16 * 1024,
        64 * 1024,
        10,
        1024 * 1024,
        200,
        1024 * 1024 + 7,
    ];
    for &len in &sizes {
        requests.send(Send::Publish("big", len)).expect("service");
    }
    for &len in &sizes {
        let frame = loop {
            let (back, frame) = recv(sub).await;
            sub = back;
            if !frame.starts_with(b"probe ") {
                break frame;
            }
        };
        let expected = format!(r#"big {{"pad":"{}"}}"#, "x".repeat(len));
        assert!(
            frame == expected.as_bytes(),
            "a frame of {len} padding bytes arrived as {} bytes",
            frame.len()
        );
    }

    // PUSH (always copied, so a refused send can be retried): the same sizes.
    let mut pull = raw(
        zmq::PULL,
        &runner.endpoint(Role::Push).expect("push endpoint"),
    );
    for &len in &sizes {
        requests.send(Send::Push(len)).expect("service");
    }
    for &len in &sizes {
        let (back, frame) = recv(pull).await;
        pull = back;
        let expected = format!(r#"{{"pad":"{}"}}"#, "y".repeat(len));
        assert!(
            frame == expected.as_bytes(),
            "a task of {len} padding bytes arrived as {} bytes",
            frame.len()
        );
    }

    let stats = runner.stats();
    assert_eq!(stats.errors, 0, "{stats}");
    runner.stop().await;
}
