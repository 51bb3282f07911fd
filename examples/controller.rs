//! The controller of the Python docs' `ZmqControllerService` outline: publishes commands,
//! pushes tasks, pulls the workers' results and subscribes to their status.
//!
//! Run it beside `cargo run --example worker` (in another terminal):
//! `cargo run --example controller`. Ctrl-C stops it.

#[path = "shared/roles.rs"]
mod roles;

use experimance::Runner;

#[tokio::main]
async fn main() -> Result<(), experimance::Error> {
    experimance::init_logging();
    Runner::new(roles::Controller::new(u64::MAX)).run().await
}
