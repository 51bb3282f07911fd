//! `init_logging` colours its lines only for a person: when stderr is a terminal, and
//! `NO_COLOR` is unset or empty. A log sent to a file or a pipe holds no escape codes.
//!
//! The parent tests re-execute this test binary with `--exact child_logs`; that test does
//! nothing unless `EXPERIMANCE_TEST_CHILD` is set, in which case it calls `init_logging` and
//! logs a line, on a stderr that the parent chose: a pipe, or a pseudo-terminal.

mod common;
#[path = "common/pty.rs"]
mod pty;

use std::io::Read;
use std::process::{Command, Stdio};

use common::child;

const CHILD_ENV: &str = "EXPERIMANCE_TEST_CHILD";
const LINE: &str = "logged by the child";
const ESC: u8 = 0x1b;

#[test]
fn child_logs() {
    if std::env::var_os(CHILD_ENV).is_some() {
        experimance::init_logging();
        tracing::info!(answer = 42, "{LINE}");
        tracing::warn!("a warning too");
    }
}

/// The child, logging at `info` to `stderr`, with `NO_COLOR` set to `no_color` (or unset).
fn logging_child(stderr: Stdio, no_color: Option<&str>) -> Command {
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, "child_logs");
    command
        .env(CHILD_ENV, "1")
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(stderr);
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    command
}

/// What the child writes to its stderr when that is a pipe.
fn logged_to_a_pipe(no_color: Option<&str>) -> Vec<u8> {
    let output = logging_child(Stdio::piped(), no_color)
        .output()
        .expect("run the child");
    assert!(output.status.success(), "child failed: {output:?}");
    output.stderr
}

/// What the child writes to its stderr when that is a pseudo-terminal.
fn logged_to_a_terminal(no_color: Option<&str>) -> Vec<u8> {
    let (mut master, slave) = pty::open_pty();
    let child = logging_child(Stdio::from(slave), no_color)
        .spawn()
        .expect("spawn the child");
    // The parent's copy of the terminal's child end went with the command; once the child
    // exits, reading the master end ends (EIO).
    let reader = std::thread::spawn(move || {
        let mut logged = Vec::new();
        let mut buffer = [0; 4096];
        loop {
            match master.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => logged.extend_from_slice(&buffer[..n]),
            }
        }
        logged
    });
    let output = child.wait_with_output().expect("wait for the child");
    assert!(output.status.success(), "child failed: {output:?}");
    reader.join().expect("reader thread")
}

fn text(logged: &[u8]) -> String {
    String::from_utf8_lossy(logged).into_owned()
}

fn coloured(logged: &[u8]) -> bool {
    assert!(
        text(logged).contains(LINE),
        "the child's line is missing: {:?}",
        text(logged)
    );
    logged.contains(&ESC)
}

#[test]
fn a_log_into_a_pipe_has_no_escape_codes() {
    let logged = logged_to_a_pipe(None);
    assert!(
        !coloured(&logged),
        "escape codes in a pipe: {:?}",
        text(&logged)
    );
}

#[test]
fn a_log_into_a_pipe_has_no_escape_codes_with_no_color_set() {
    for no_color in ["1", ""] {
        let logged = logged_to_a_pipe(Some(no_color));
        assert!(
            !coloured(&logged),
            "escape codes in a pipe with NO_COLOR={no_color:?}: {:?}",
            text(&logged)
        );
    }
}

/// On a terminal the log is coloured (the check that the pipe tests can fail), unless
/// `NO_COLOR` is set to something.
#[test]
fn a_log_on_a_terminal_is_coloured_unless_no_color_is_set() {
    let logged = logged_to_a_terminal(None);
    assert!(
        coloured(&logged),
        "no colour on a terminal: {:?}",
        text(&logged)
    );
    let logged = logged_to_a_terminal(Some(""));
    assert!(
        coloured(&logged),
        "an empty NO_COLOR counts as unset: {:?}",
        text(&logged)
    );
    let logged = logged_to_a_terminal(Some("1"));
    assert!(
        !coloured(&logged),
        "escape codes with NO_COLOR=1: {:?}",
        text(&logged)
    );
}
