//! Service `MySubscriber`: subscribes to `mypub.heartbeat` and `CUSTOM_EVENT` from
//! `tcp://localhost:5567` (the `basic_publisher` example) and logs every message it handles.
//!
//! Run: `cargo run --example basic_subscriber` (Ctrl-C stops it).
//! Address override: `EXPERIMANCE_MYSUBSCRIBER_SUB=tcp://127.0.0.1:6000`.

use experimance::{handlers, service, Heartbeat, Runner};

#[service(sub = "tcp://localhost:5567", topics = ["mypub.heartbeat", "CUSTOM_EVENT"])]
struct MySubscriber;

#[handlers]
impl MySubscriber {
    #[topic("mypub.heartbeat")]
    async fn on_heartbeat(&mut self, heartbeat: Heartbeat) {
        let json = serde_json::to_string(&heartbeat).unwrap_or_default();
        tracing::info!(topic = "mypub.heartbeat", %json, "received");
    }

    #[topic("CUSTOM_EVENT")]
    async fn on_custom_event(&mut self, message: serde_json::Value) {
        tracing::info!(topic = "CUSTOM_EVENT", json = %message, "received");
    }
}

#[tokio::main]
async fn main() -> Result<(), experimance::Error> {
    experimance::init_logging();
    Runner::new(MySubscriber).run().await
}
