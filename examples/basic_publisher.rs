//! The Python library's basic publisher: service `MyPublisher` on `tcp://*:5567`, heartbeats
//! on `mypub.heartbeat`, and `{"type": "CUSTOM_EVENT", "data": "hello world"}` once a second
//! (on the topic `CUSTOM_EVENT`, from its `"type"`).
//!
//! Run: `cargo run --example basic_publisher` (Ctrl-C stops it).
//! Address override: `EXPERIMANCE_MYPUBLISHER_PUB=tcp://127.0.0.1:6000`.

use experimance::{handlers, service, Context, Runner};
use serde::Serialize;

#[derive(Serialize)]
struct CustomEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'static str,
}

#[service(pub = "tcp://*:5567", heartbeat = "mypub.heartbeat")]
struct MyPublisher;

#[handlers]
impl MyPublisher {
    #[every("1s")]
    async fn publish_event(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        let message = CustomEvent {
            kind: "CUSTOM_EVENT",
            data: "hello world",
        };
        ctx.publish(&message).await?;
        tracing::info!(data = message.data, "published CUSTOM_EVENT");
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), experimance::Error> {
    experimance::init_logging();
    Runner::new(MyPublisher).run().await
}
