//! The controller of the Python docs' `ZmqControllerService` outline: publishes commands,
//! pushes tasks, pulls the workers' results and subscribes to their status.
//!
//! Run it beside `cargo run --example worker` (in another terminal):
//! `cargo run --example controller`. It pushes a task every 250 ms until Ctrl-C stops it.
//!
//! `--tasks N` (or the `EXPERIMANCE_CONTROLLER_TASKS=N` environment variable; the argument
//! wins) pushes N tasks only, and exits with status 0 once the result of every one is back:
//! `cargo run --example controller -- --tasks 3`. `--config PATH` names a configuration file,
//! as for any service.

#[path = "shared/roles.rs"]
mod roles;

use experimance::Runner;

/// The environment variable that gives the number of tasks when `--tasks` does not.
const TASKS_ENV: &str = "EXPERIMANCE_CONTROLLER_TASKS";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = tasks()?;
    experimance::init_logging();
    Runner::new(roles::Controller::new(tasks.unwrap_or(u64::MAX)))
        .run()
        .await?;
    Ok(())
}

/// How many tasks to push: `--tasks N` (or `--tasks=N`), else [`TASKS_ENV`]; `None` for no
/// limit. `--config PATH` is the runtime's, and is let through.
fn tasks() -> Result<Option<u64>, String> {
    let mut args = std::env::args().skip(1);
    let mut given = None;
    while let Some(arg) = args.next() {
        if arg == "--tasks" {
            given = Some(args.next().ok_or("--tasks needs a number")?);
        } else if let Some(value) = arg.strip_prefix("--tasks=") {
            given = Some(value.to_owned());
        } else if arg == "--config" {
            args.next();
        } else if !arg.starts_with("--config=") {
            return Err(format!(
                "unknown argument `{arg}` (expected `--tasks N` or `--config PATH`)"
            ));
        }
    }
    let (value, source) = match given {
        Some(value) => (value, "--tasks"),
        None => match std::env::var(TASKS_ENV) {
            Ok(value) if !value.trim().is_empty() => (value, TASKS_ENV),
            _ => return Ok(None),
        },
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!(
            "{source}: `{value}` is not a number of tasks (1 or more)"
        )),
    }
}
