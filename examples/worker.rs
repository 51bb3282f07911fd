//! A worker for the `controller` example: follows commands, pulls tasks, pushes results and
//! publishes its status.
//!
//! Run: `cargo run --example worker` (beside `cargo run --example controller`). Start as
//! many as you like; tasks are shared among them round robin. Ctrl-C stops it.

#[path = "shared/roles.rs"]
mod roles;

use experimance::Runner;

#[tokio::main]
async fn main() -> Result<(), experimance::Error> {
    experimance::init_logging();
    Runner::new(roles::Worker::default()).run().await
}
