//! A monitor: watches the heartbeats of the `controller` example and of its workers, and
//! prints a line when a peer is alive (its first heartbeat, or one after it was lost) and
//! when it is lost (silent for three heartbeat periods, or gone with a goodbye heartbeat).
//!
//! Run it beside `cargo run --example controller` and `cargo run --example worker`:
//! `cargo run --example monitor`. Its SUB socket connects to the controller's commands socket
//! (`tcp://localhost:5580`), where the controller publishes its own heartbeats and relays
//! those of its workers (which reach it on its status socket). Ctrl-C stops it.
//!
//! `peer_interval` is the heartbeat period the monitor expects of its peers: 5 s, the
//! default `heartbeat_interval`. Peers that beat faster can be judged sooner with
//! `EXPERIMANCE_MONITOR_PEER_INTERVAL=200ms`, or a configuration file (`--config PATH`):
//!
//! ```toml
//! [services.Monitor]
//! peer_interval = "200ms"
//! ```
//!
//! and the address it connects to can be changed with `EXPERIMANCE_MONITOR_SUB`.

use experimance::{handlers, service, Context, Liveness, Role, Runner, Untrusted};

/// Watches `controller.heartbeat` and `worker.heartbeat`.
#[service(
    name = "Monitor",
    sub = "tcp://localhost:5580",
    watch = ["controller.heartbeat", "worker.heartbeat"],
    peer_interval = "5s",
    stats_interval = "off"
)]
struct Monitor;

#[handlers]
impl Monitor {
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        println!(
            "{}: watching controller.heartbeat and worker.heartbeat from {}",
            ctx.name(),
            ctx.endpoint(Role::Sub).unwrap_or_default()
        );
    }

    /// Called when a watched peer becomes alive or lost.
    #[on_peer]
    async fn peer(&mut self, peer: &str, liveness: Liveness) {
        // A peer's name is what its heartbeat said: printed escaped.
        println!("peer {} {liveness}", Untrusted::str(peer));
    }
}

#[tokio::main]
async fn main() -> Result<(), experimance::Error> {
    experimance::init_logging();
    Runner::new(Monitor).run().await
}
