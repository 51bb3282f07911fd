use std::fmt;

use serde::{Deserialize, Serialize};

/// A service's lifecycle state, spelled on the wire as in the Python services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Built, never started.
    Initialized,
    /// Opening sockets and running `#[on_start]`.
    Starting,
    /// Handling messages.
    Running,
    /// Stop requested: running `#[on_stop]`, cancelling tasks, closing sockets.
    Stopping,
    /// Stopped; may be started again.
    Stopped,
}

impl State {
    /// The wire spelling (`initialized`, `starting`, `running`, `stopping`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialized => "initialized",
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's health, spelled on the wire as in the Python services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All well.
    Healthy,
    /// Degraded but working.
    Warning,
    /// A task failed; the service stopped because of it.
    Error,
    /// The service could not start (a socket could not be opened, a start hook failed).
    Fatal,
}

impl Status {
    /// The wire spelling (`healthy`, `warning`, `error`, `fatal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Warning => "warning",
            Status::Error => "error",
            Status::Fatal => "fatal",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
