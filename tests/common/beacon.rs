//! A service for the CURVE tests: publishes `secret {"n": n, "text": MARKER}` every 10 ms,
//! with `curve = true` (its keys come from the test: `Runner::with_curve` or a configuration
//! file; `with_curve(None)` turns CURVE off).
#![allow(dead_code)]

use experimance::{handlers, service, Context, Error};
use serde_json::json;

/// A distinctive payload: found on the wire, it was sent in clear.
pub const MARKER: &str = "payload-in-clear-5c0ffee";

#[service(
    name = "RustBeacon",
    pub = "tcp://127.0.0.1:*",
    curve = true,
    heartbeat_interval = "1h",
    stats_interval = "off"
)]
pub struct Beacon {
    pub n: u64,
}

#[handlers]
impl Beacon {
    #[every("10ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), Error> {
        self.n += 1;
        ctx.publish_to("secret", &json!({ "n": self.n, "text": MARKER }))
            .await
    }
}
