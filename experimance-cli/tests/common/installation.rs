//! The `installation` example as a real child process, an `experimance dashboard` on it, and
//! an HTTP client for the dashboard's API and its event stream.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{spawn, Finished, Spawned, SAFETY};

#[path = "../../../tests/common/built.rs"]
mod built;
use built::example;

/// The services of the example.
pub const SERVICES: [&str; 4] = ["audio", "core", "display", "image_server"];

/// The running example, killed when dropped.
pub struct Installation {
    child: Child,
    /// The PUB endpoints of its four services.
    pub addrs: Vec<String>,
}

impl Installation {
    /// Starts the example with fast heartbeats and statistics, and reads the endpoints it
    /// prints.
    pub fn start() -> Installation {
        let mut command = Command::new(example("installation"));
        for name in SERVICES {
            command
                .env(
                    experimance::env_var_name(name, "HEARTBEAT_INTERVAL"),
                    "200ms",
                )
                .env(experimance::env_var_name(name, "STATS_INTERVAL"), "300ms");
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the installation example");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(SAFETY)
            .expect("the installation prints its endpoints");
        let addrs: Vec<String> = line
            .strip_prefix("experimance dashboard ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(addrs.len(), 4, "{line}");
        Installation { child, addrs }
    }

    /// SIGKILL: the services vanish without a last heartbeat.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the installation");
        self.child.wait().expect("reap the installation");
    }
}

impl Drop for Installation {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `experimance dashboard` on a port the system chose, killed when dropped (a
/// failed test leaves no process behind).
pub struct Dashboard {
    spawned: Option<Spawned>,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
}

impl Dashboard {
    /// Starts `experimance dashboard ADDRS --listen 127.0.0.1:0 EXTRA` and reads its URL.
    pub fn start(addrs: &[String], extra: &[&str]) -> Dashboard {
        let mut args: Vec<&str> = vec!["dashboard"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--listen", "127.0.0.1:0"]);
        args.extend(extra);
        let mut spawned = spawn(&args);
        let line = spawned.await_stderr("dashboard: http://");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL")
            .trim_end_matches('/')
            .to_owned();
        Dashboard {
            spawned: Some(spawned),
            base,
        }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn await_stderr(&mut self, needle: &str) -> String {
        self.spawned.as_mut().expect("running").await_stderr(needle)
    }

    /// SIGTERM, then waits for the exit (see [`Spawned::finish`]).
    pub fn stop(mut self) -> Finished {
        let spawned = self.spawned.take().expect("running");
        spawned.terminate();
        spawned.finish()
    }

    /// `GET PATH`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut response = agent()
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().expect("a text body");
        (status, body)
    }

    /// `GET PATH` as JSON, expecting 200.
    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Opens the event stream.
    pub fn events(&self) -> Events {
        let response = agent()
            .get(&format!("{}/api/events", self.base))
            .call()
            .expect("GET /api/events");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            reader: BufReader::new(Box::new(response.into_body().into_reader())),
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(spawned) = &mut self.spawned {
            let _ = spawned.child.kill();
            let _ = spawned.child.wait();
        }
    }
}

/// An HTTP client that gives non-2xx answers as answers, and never waits forever.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SAFETY * 3))
        .build()
        .into()
}

/// The dashboard's server-sent events.
pub struct Events {
    reader: BufReader<Box<dyn Read + Send>>,
}

impl Events {
    /// The next `snapshot` event's data.
    pub fn next(&mut self) -> Value {
        let mut event = String::new();
        let mut data = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .expect("read the event stream");
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if event == "snapshot" && !data.is_empty() {
                    return serde_json::from_str(&data).expect("a snapshot is JSON");
                }
                event.clear();
                data.clear();
            } else if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(more) = line.strip_prefix("data:") {
                data.push_str(more.strip_prefix(' ').unwrap_or(more));
            }
        }
    }

    /// The first snapshot for which `done` holds; fails after `within` with `what` and the
    /// last snapshot.
    pub fn until(&mut self, what: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let snapshot = self.next();
            if done(&snapshot) {
                return snapshot;
            }
            assert!(
                Instant::now() < deadline,
                "not seen within {within:?}: {what}; last snapshot: {snapshot:#}"
            );
        }
    }
}

/// The service named `name` in a snapshot.
pub fn service<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    snapshot["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

/// The topic named `name` in a snapshot.
pub fn topic<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    snapshot["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic"] == name)
}

/// The edges of a snapshot (or of `/api/graph`) as `from -kind-> to`, sorted.
pub fn edges(snapshot: &Value) -> Vec<String> {
    let mut edges: Vec<String> = snapshot["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .map(|e| {
                    format!(
                        "{} -{}-> {}",
                        e["from"].as_str().unwrap_or("?"),
                        e["kind"].as_str().unwrap_or("?"),
                        e["to"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    edges.sort();
    edges
}

/// The example's edges.
pub const EDGES: [&str; 4] = [
    "core -tasks-> image_server",
    "core -topic-> audio",
    "core -topic-> display",
    "image_server -topic-> display",
];

/// Whether every service of the example is in `snapshot`, with `liveness`.
pub fn all(snapshot: &Value, liveness: &str) -> bool {
    SERVICES
        .iter()
        .all(|name| service(snapshot, name).is_some_and(|s| s["liveness"] == liveness))
}
