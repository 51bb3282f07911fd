//! The `controller`, `worker` and `monitor` examples, run as real processes: the controller
//! with `--tasks N` exits 0 once every result is back, and the monitor says a worker is alive,
//! then lost once it is killed.
//!
//! `cargo test` builds the examples (as programs) next to the test binaries, in
//! `<target>/<profile>/examples/`. Every socket binds `tcp://127.0.0.1:*`: a configuration
//! file gives the controller wildcard addresses, and the controller prints the ports it
//! bound, which the worker and the monitor get through `EXPERIMANCE_<NAME>_<ROLE>` variables.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::built::example;
use common::child::Kid;

/// A configuration file for this test: wildcard addresses for the controller, and the
/// heartbeat periods.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn write(tag: &str, heartbeat: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!(
            "experimance-examples-{}-{tag}.toml",
            std::process::id()
        ));
        let text = format!(
            r#"[services.MyController]
pub = "tcp://127.0.0.1:*"
push = "tcp://127.0.0.1:*"
pull = "@tcp://127.0.0.1:*"
sub = "@tcp://127.0.0.1:*"
heartbeat_interval = "{heartbeat}"
stats_interval = "off"

[services.MyWorker]
heartbeat_interval = "{heartbeat}"
stats_interval = "off"

[services.Monitor]
peer_interval = "{heartbeat}"
"#
        );
        std::fs::write(&path, text).expect("write the configuration file");
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The command running example `name` with `args`, its stdout piped, quiet unless something
/// goes wrong, and none of the variables this test sets inherited.
fn command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example(name));
    command
        .args(args)
        .stdout(Stdio::piped())
        .env("RUST_LOG", "error")
        .env_remove(experimance::CONFIG_ENV)
        .env_remove("EXPERIMANCE_CONTROLLER_TASKS");
    command
}

/// The controller's endpoints, as it prints them at its start.
struct Controller {
    commands: String,
    tasks: String,
    results: String,
    status: String,
}

/// Reads the controller's `MyController: commands A, tasks B, results C, status D` line.
async fn controller_endpoints(controller: &mut Kid) -> Controller {
    let line = controller.line("MyController: ").await;
    let mut endpoints = std::collections::BTreeMap::new();
    for part in line.split(", ") {
        let (what, endpoint) = part.split_once(' ').expect("`what endpoint`");
        assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{line}");
        endpoints.insert(what.to_owned(), endpoint.to_owned());
    }
    let mut take = |what: &str| endpoints.remove(what).unwrap_or_else(|| panic!("{line}"));
    Controller {
        commands: take("commands"),
        tasks: take("tasks"),
        results: take("results"),
        status: take("status"),
    }
}

/// Starts the worker example against `controller`.
fn start_worker(controller: &Controller, config: &ConfigFile) -> Kid {
    let mut worker = command("worker", &["--config", config.path()]);
    worker
        .env("EXPERIMANCE_MYWORKER_SUB", &controller.commands)
        .env("EXPERIMANCE_MYWORKER_PULL", &controller.tasks)
        .env(
            "EXPERIMANCE_MYWORKER_PUSH",
            format!(">{}", controller.results),
        )
        .env(
            "EXPERIMANCE_MYWORKER_PUB",
            format!(">{}", controller.status),
        );
    Kid::start(worker, "worker")
}

/// Runs the controller (with `args` and `env`) and a worker until the controller exits;
/// returns its exit code and what it printed.
async fn controller_with_a_worker(
    tag: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<String>) {
    let config = ConfigFile::write(tag, "200ms");
    let mut args = args.to_vec();
    args.extend(["--config", config.path()]);
    let mut command = command("controller", &args);
    command.envs(env.iter().copied());
    let mut controller = Kid::start(command, "controller");
    let endpoints = controller_endpoints(&mut controller).await;
    let worker = start_worker(&endpoints, &config);
    let (status, lines) = controller.wait().await;
    worker.kill().await;
    (status.code(), lines)
}

fn assert_all_results_back(code: Option<i32>, lines: &[String], tasks: u64) {
    assert_eq!(code, Some(0), "the controller printed {lines:#?}");
    for n in 1..=tasks {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("result of task {n} "))),
            "no result of task {n}: {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&format!("pushed task {} ", tasks + 1))),
        "pushed more than {tasks} tasks: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("all {tasks} results are back"))),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_tasks_3_exits_0_once_every_result_is_back() {
    let (code, lines) = controller_with_a_worker("tasks-arg", &["--tasks", "3"], &[]).await;
    assert_all_results_back(code, &lines, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_takes_the_number_of_tasks_from_the_environment() {
    let env = [("EXPERIMANCE_CONTROLLER_TASKS", "2")];
    let (code, lines) = controller_with_a_worker("tasks-env", &[], &env).await;
    assert_all_results_back(code, &lines, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_refuses_a_bad_number_of_tasks() {
    for args in [
        &["--tasks", "0"][..],
        &["--tasks", "many"],
        &["--tasks"],
        &["--oops"],
    ] {
        let mut command = command("controller", args);
        command.stderr(Stdio::piped());
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("run the controller");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("tasks") || stderr.contains("--oops"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_says_the_worker_is_alive_then_lost_once_killed() {
    // Heartbeats every 250 ms, so a peer is lost after 750 ms of silence.
    let config = ConfigFile::write("monitor", "250ms");
    let mut controller = Kid::start(
        command("controller", &["--config", config.path()]),
        "controller",
    );
    let endpoints = controller_endpoints(&mut controller).await;
    let mut monitor = command("monitor", &["--config", config.path()]);
    monitor.env("EXPERIMANCE_MONITOR_SUB", &endpoints.commands);
    let mut monitor = Kid::start(monitor, "monitor");
    monitor.line("Monitor: watching").await;
    let worker = start_worker(&endpoints, &config);

    // The controller's own heartbeats and, relayed by it, the worker's.
    let mut alive = Vec::new();
    while alive.len() < 2 {
        let peer = monitor.line("peer ").await;
        match peer.as_str() {
            "MyController alive" | "MyWorker alive" if !alive.contains(&peer) => alive.push(peer),
            other => panic!("unexpected `peer {other}` before the worker was killed"),
        }
    }

    worker.kill().await;
    assert_eq!(monitor.line("peer ").await, "MyWorker lost");
    assert!(
        !monitor.seen.iter().any(|l| l.contains("MyController lost")),
        "{:#?}",
        monitor.seen
    );
    controller.kill().await;
    monitor.kill().await;
}
