//! Errors of the CLI and the exit codes they map to.

use std::fmt;

/// Exit status of a run that did what it was asked (also after Ctrl-C / SIGTERM).
pub const EXIT_OK: i32 = 0;
/// Exit status of a runtime or network failure: address in use, no peer in time, I/O error.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit status of bad usage or bad input: unknown flag, bad address, bad JSON, bad topic,
/// unreadable or malformed FILE (clap uses the same code for its own usage errors).
pub const EXIT_USAGE: i32 = 2;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is wrong: exit status 2.
    Usage(String),
    /// Something failed at run time: exit status 1.
    Runtime(String),
    /// Standard output was closed (e.g. `| head`): a clean stop, exit status 0.
    Closed,
}

impl CliError {
    /// A usage / bad input error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// A runtime / network error.
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError::Runtime(message.into())
    }

    /// The exit status of this error.
    pub fn code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Runtime(_) => EXIT_RUNTIME,
            CliError::Closed => EXIT_OK,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Runtime(m) => f.write_str(m),
            CliError::Closed => f.write_str("output closed"),
        }
    }
}

/// The result of a command.
pub type Result<T> = std::result::Result<T, CliError>;
