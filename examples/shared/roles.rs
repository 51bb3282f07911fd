//! The controller and worker of the Python docs' `ZmqControllerService` outline, and a
//! display that watches the controller; shared by the `controller`, `worker` and `demo`
//! examples.
//!
//! Sockets (the controller binds all four ends that workers reach; `docs/wire.md` compares
//! this with the conventions of the Python services):
//!
//! | socket | controller | worker |
//! |---|---|---|
//! | commands | PUB binds `tcp://*:5580` | SUB connects `tcp://localhost:5580` |
//! | tasks | PUSH binds `tcp://*:5581` | PULL connects `tcp://localhost:5581` |
//! | results | PULL binds `@tcp://*:5582` | PUSH connects `>tcp://localhost:5582` |
//! | status | SUB binds `@tcp://*:5583` | PUB connects `>tcp://localhost:5583` |
//!
//! The controller relays its workers' heartbeats (`worker.heartbeat`, which reach it on the
//! status socket) on its commands socket, beside its own (`controller.heartbeat`): a monitor
//! subscribed to the controller watches them all (the `monitor` example).
#![allow(dead_code)]

use std::collections::BTreeSet;

use experimance::{handlers, message, service, Context, Role};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Published by the controller on `control`. Each message is a `#[message]`: it carries its
/// `"type"` (`Command`, `Task`, ...) without a field for it, checked on arrival.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    pub action: String,
    pub seq: u64,
}

/// Pushed by the controller to the workers.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub task_id: u64,
    pub payload: String,
}

/// Pushed back by a worker for each task.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub task_id: u64,
    pub worker: String,
    pub result: String,
}

/// Published by a worker on `worker.status`.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub worker: String,
    pub processed: u64,
}

/// Publishes a command and pushes a task on every tick, up to `limit` tasks; once the result
/// of every one is back (never, with `u64::MAX`), tells `done`, or stops without it.
/// Collects the workers' results and status, and relays their heartbeats.
#[service(
    name = "MyController",
    pub = "tcp://*:5580",
    push = "tcp://*:5581",
    pull = "@tcp://*:5582",
    sub = "@tcp://*:5583",
    topics = ["worker.status", "worker.heartbeat"],
    heartbeat = "controller.heartbeat",
    service_type = "controller"
)]
pub struct Controller {
    pub limit: u64,
    pub pushed: u64,
    pub results: BTreeSet<u64>,
    /// Told once every pushed task has its result back; without it, the controller stops.
    pub done: Option<mpsc::Sender<()>>,
}

impl Controller {
    pub fn new(limit: u64) -> Self {
        Controller {
            limit,
            pushed: 0,
            results: BTreeSet::new(),
            done: None,
        }
    }
}

#[handlers]
impl Controller {
    /// Says where the workers (and a monitor) reach the controller: the ports it bound.
    #[on_start]
    async fn started(&mut self, ctx: &Context<Self>) {
        let endpoint = |role| ctx.endpoint(role).unwrap_or_default();
        println!(
            "{}: commands {}, tasks {}, results {}, status {}",
            ctx.name(),
            endpoint(Role::Pub),
            endpoint(Role::Push),
            endpoint(Role::Pull),
            endpoint(Role::Sub)
        );
    }

    #[every("250ms")]
    async fn perform_control_action(
        &mut self,
        ctx: &Context<Self>,
    ) -> Result<(), experimance::Error> {
        if self.pushed >= self.limit {
            return Ok(());
        }
        self.pushed += 1;
        let seq = self.pushed;
        let command = Command {
            action: "START_PROCESS".into(),
            seq,
        };
        ctx.publish_to("control", &command).await?;
        let task = Task {
            task_id: seq,
            payload: format!("frame-{seq}"),
        };
        ctx.push(&task).await?;
        println!(
            "{:>14} → pushed task {seq} and published command {seq}",
            ctx.name()
        );
        Ok(())
    }

    /// The Python `_handle_worker_response`.
    #[task]
    async fn handle_worker_response(&mut self, response: TaskResult, ctx: &Context<Self>) {
        println!(
            "{:>14} ← result of task {} from {}: {}",
            ctx.name(),
            response.task_id,
            response.worker,
            response.result
        );
        self.results.insert(response.task_id);
        if self.results.len() as u64 == self.limit {
            println!("{:>14} ✓ all {} results are back", ctx.name(), self.limit);
            match self.done.take() {
                Some(done) => {
                    let _ = done.send(()).await;
                }
                None => ctx.stop(),
            }
        }
    }

    /// Relays a worker's heartbeat on the controller's PUB socket, for monitors.
    #[topic("worker.heartbeat")]
    async fn relay_heartbeat(
        &mut self,
        heartbeat: serde_json::Value,
        ctx: &Context<Self>,
    ) -> Result<(), experimance::Error> {
        ctx.publish_to("worker.heartbeat", &heartbeat).await
    }

    #[topic("worker.status")]
    async fn on_worker_status(&mut self, status: WorkerStatus, ctx: &Context<Self>) {
        println!(
            "{:>14} ← status: {} has processed {}",
            ctx.name(),
            status.worker,
            status.processed
        );
    }
}

/// Follows commands, processes tasks, pushes results, publishes its status.
#[service(
    name = "MyWorker",
    sub = "tcp://localhost:5580",
    pull = "tcp://localhost:5581",
    push = ">tcp://localhost:5582",
    pub = ">tcp://localhost:5583",
    topics = ["control"],
    heartbeat = "worker.heartbeat",
    service_type = "worker"
)]
#[derive(Default)]
pub struct Worker {
    pub processed: u64,
    pub last_command: Option<u64>,
}

#[handlers]
impl Worker {
    #[topic("control")]
    async fn on_command(&mut self, command: Command, ctx: &Context<Self>) {
        println!(
            "{:>14} ← command {} {}",
            ctx.name(),
            command.seq,
            command.action
        );
        self.last_command = Some(command.seq);
    }

    #[task]
    async fn on_task(&mut self, task: Task, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        // The "work": render the payload in upper case.
        let result = TaskResult {
            task_id: task.task_id,
            worker: ctx.name().to_owned(),
            result: task.payload.to_uppercase(),
        };
        self.processed += 1;
        println!(
            "{:>14} ← task {} → {}",
            ctx.name(),
            task.task_id,
            result.result
        );
        ctx.push(&result).await
    }

    #[every("1s")]
    async fn report_status(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        let status = WorkerStatus {
            worker: ctx.name().to_owned(),
            processed: self.processed,
        };
        ctx.publish_to("worker.status", &status).await
    }
}

/// Watches the controller's commands and heartbeats, like a display would.
#[service(
    name = "Display",
    sub = "tcp://localhost:5580",
    topics = ["control", "controller.heartbeat"]
)]
#[derive(Default)]
pub struct Display {
    pub commands: u64,
}

#[handlers]
impl Display {
    #[topic("control")]
    async fn on_command(&mut self, command: Command, ctx: &Context<Self>) {
        self.commands += 1;
        println!("{:>14} ← shows command {}", ctx.name(), command.seq);
    }

    #[catch_all]
    async fn on_other(&mut self, topic: &str, message: serde_json::Value, ctx: &Context<Self>) {
        println!("{:>14} ← {topic} {message}", ctx.name());
    }
}
