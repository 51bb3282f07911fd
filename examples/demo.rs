//! The main demo: every role in one process. A controller pushes tasks to two workers and
//! publishes commands; the workers process the tasks, push results back and publish their
//! status; a display subscriber watches the controller. The four services run as one group
//! ([`Services`]), under one signal handler: when every task's result is back the group is
//! stopped (the display and workers first, the controller they talk to last), and a stats
//! table is printed. Ctrl-C stops them all.
//!
//! Run: `cargo run --example demo`. Everything binds on 127.0.0.1 with ports the system
//! chooses, so it runs beside anything else.

#[path = "shared/roles.rs"]
mod roles;

use std::sync::Arc;
use std::time::Duration;

use experimance::{Role, Runner, Services, StatsSnapshot};
use roles::{Controller, Display, Worker};
use tokio::sync::mpsc;

const TASKS: u64 = 12;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("RUST_LOG").is_some() {
        experimance::init_logging();
    }
    let (done_tx, mut done_rx) = mpsc::channel(1);
    let mut controller = Controller::new(TASKS);
    controller.done = Some(done_tx);
    let controller = Arc::new(
        Runner::new(controller)
            .with_address(Role::Pub, "tcp://127.0.0.1:*")
            .with_address(Role::Push, "tcp://127.0.0.1:*")
            .with_address(Role::Pull, "@tcp://127.0.0.1:*")
            .with_address(Role::Sub, "@tcp://127.0.0.1:*"),
    );
    // Started first, for the ports it bound (it prints them); the group leaves it running.
    controller.start().await?;
    let endpoint = |role| {
        controller
            .endpoint(role)
            .expect("controller socket is bound")
    };
    let (commands, tasks, results, status) = (
        endpoint(Role::Pub),
        endpoint(Role::Push),
        endpoint(Role::Pull),
        endpoint(Role::Sub),
    );
    println!();

    let workers: Vec<Arc<Runner<Worker>>> = ["worker-1", "worker-2"]
        .into_iter()
        .map(|name| {
            Arc::new(
                Runner::new(Worker::default())
                    .with_name(name)
                    .with_address(Role::Sub, commands.clone())
                    .with_address(Role::Pull, tasks.clone())
                    .with_address(Role::Push, format!(">{results}"))
                    .with_address(Role::Pub, format!(">{status}")),
            )
        })
        .collect();
    let display =
        Arc::new(Runner::new(Display::default()).with_address(Role::Sub, commands.clone()));
    let services = workers
        .iter()
        .fold(
            Services::new().with_shared(Arc::clone(&controller)),
            |s, w| s.with_shared(Arc::clone(w)),
        )
        .with_shared(Arc::clone(&display));

    // Once every result is back (or after 20 s), the group is stopped from here; `run` sees
    // its services stop, and returns.
    let stop_when_done = async {
        let _ = tokio::time::timeout(Duration::from_secs(20), done_rx.recv()).await;
        services.stop().await;
        std::future::pending::<()>().await
    };
    let ran = tokio::select! {
        ran = services.run() => ran,
        () = stop_when_done => unreachable!("it never ends"),
    };

    let mut table = vec![controller.stats(), display.stats()];
    table.extend(workers.iter().map(|w| w.stats()));
    print_table(&table);
    ran?;
    let received = controller
        .with_service(|c| c.results.len() as u64)
        .unwrap_or(0);
    if received != TASKS {
        return Err(format!("only {received} of {TASKS} results came back").into());
    }
    println!("\nall {TASKS} tasks were processed and their results came back");
    Ok(())
}

fn print_table(rows: &[StatsSnapshot]) {
    println!(
        "\n{:<14} {:<8} {:<8} {:>6} {:>9} {:>7} {:>8}",
        "service", "state", "status", "sent", "received", "errors", "uptime"
    );
    for s in rows {
        println!(
            "{:<14} {:<8} {:<8} {:>6} {:>9} {:>7} {:>7.1}s",
            s.service,
            s.state.as_str(),
            s.status.as_str(),
            s.messages_sent,
            s.messages_received,
            s.errors,
            s.uptime
        );
    }
}
