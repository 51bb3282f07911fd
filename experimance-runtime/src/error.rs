use std::fmt;

use crate::address::Role;
use crate::lifecycle::State;

/// Everything that can go wrong in a service, with the context needed to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A lifecycle operation was asked for in a state that does not allow it.
    #[error("cannot {operation} service `{service}` while it is {state}")]
    InvalidState {
        /// The service's name.
        service: String,
        /// What was asked for (`start`, ...).
        operation: &'static str,
        /// The state the service was in.
        state: State,
    },
    /// An address could not be parsed, bound or connected.
    #[error("service `{service}`: cannot open {role} socket on `{endpoint}`: {source}")]
    Socket {
        /// The service's name.
        service: String,
        /// The socket's role.
        role: Role,
        /// The endpoint as given (after overrides).
        endpoint: String,
        /// The libzmq error.
        source: zmq::Error,
    },
    /// A TCP socket was to bind to a host name, which libzmq cannot do: a bind takes an
    /// interface (an IP address or an interface name) or `*`.
    #[error("service `{service}`: cannot bind the {role} socket to `{endpoint}`: a bind needs an interface (an IP address or an interface name) or `*`, not a host name; to connect to `{endpoint}` instead, write `{connect}`")]
    BindHostName {
        /// The service's name.
        service: String,
        /// The socket's role.
        role: Role,
        /// The endpoint as given, without its prefix.
        endpoint: String,
        /// The same endpoint with the `>` prefix that connects to it.
        connect: String,
    },
    /// A topic was empty or contained a space; it was not sent.
    #[error("invalid topic {0:?}: a topic must be non-empty and contain no space")]
    InvalidTopic(String),
    /// A message could not be serialized to JSON; it was not sent.
    #[error("cannot serialize message: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The service has no socket of this role, or the socket is closed because it stopped.
    #[error("service `{service}` has no open {role} socket (it is not running, or has no `{key}` key)", key = role.key())]
    NoSocket {
        /// The service's name.
        service: String,
        /// The socket's role.
        role: Role,
    },
    /// libzmq failed while sending or receiving.
    #[error("service `{service}`: {role} socket failed: {source}")]
    Transport {
        /// The service's name.
        service: String,
        /// The socket's role.
        role: Role,
        /// The libzmq error.
        source: zmq::Error,
    },
    /// The `#[on_start]` hook failed, so the service did not start.
    #[error("service `{service}`: on_start failed: {message}")]
    StartHook {
        /// The service's name.
        service: String,
        /// What the hook reported.
        message: String,
    },
    /// A background task (or a receive loop) failed, which stops the service (as in the Python
    /// library). A failing `#[every]` handler is counted like a failing message handler.
    #[error("service `{service}`: task `{task}` failed: {message}")]
    TaskFailed {
        /// The service's name.
        service: String,
        /// The task's name.
        task: String,
        /// What the task reported (its error, or its panic message).
        message: String,
    },
    /// The configuration is invalid or asks for something this build cannot do.
    #[error("service `{service}`: {message}")]
    Config {
        /// The service's name.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration file could not be read or has a bad key.
    #[error("configuration file `{}`: {message}", path.display())]
    ConfigFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with the key and what was expected.
        message: String,
    },
    /// A send found the send queue full (no puller took messages) and no room came within
    /// its timeout; nothing was sent.
    #[error(
        "service `{service}`: {role} send timed out after {after:?}: the send queue stayed full (no peer is taking messages); this message was not sent"
    )]
    SendTimeout {
        /// The service's name.
        service: String,
        /// The socket's role.
        role: Role,
        /// The timeout.
        after: std::time::Duration,
    },
    /// Installing the signal handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signal(#[source] std::io::Error),
}

/// Why a handler did not handle a message; counted in `errors` and logged, never fatal.
#[derive(Debug)]
pub enum HandlerError {
    /// The payload was not JSON, or not the JSON the handler's type expects.
    Decode(serde_json::Error),
    /// The handler returned an error.
    Failed(String),
    /// The handler takes a `#[message]` type, and the message's `"type"` is none of its
    /// wire types (`got` is `None` for a message without a string `"type"`).
    WrongType {
        /// The wire types the handler's message type takes.
        expected: &'static [&'static str],
        /// The message's `"type"`.
        got: Option<String>,
    },
    /// No `#[task]` handler takes the message's `"type"`, and there is no
    /// `#[task(catch_all)]` (`None` for a message without a string `"type"`).
    NoTaskHandler {
        /// The message's `"type"`.
        got: Option<String>,
    },
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = |got: &Option<String>| match got {
            Some(t) => crate::Untrusted::str(t).to_string(),
            None => "a message without \"type\"".to_owned(),
        };
        match self {
            HandlerError::Decode(e) => write!(f, "cannot decode message: {e}"),
            HandlerError::Failed(e) => write!(f, "handler failed: {e}"),
            HandlerError::WrongType { expected, got: g } => {
                write!(f, "expected type {}, got {}", expected.join(" or "), got(g))
            }
            HandlerError::NoTaskHandler { got: g } => match g {
                Some(_) => write!(f, "no #[task] handler takes type {}", got(g)),
                None => write!(f, "no #[task] handler takes {}", got(g)),
            },
        }
    }
}

impl std::error::Error for HandlerError {}
