//! Running the real Python with pydantic, for the contract tests. `.ci/run` installs pydantic
//! with pip; a machine without it fails these tests with a message that says so.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// The Python interpreter: `$PYTHON`, else `python3`.
pub fn interpreter() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs `script` with `args` in `dir`, `stdin` on its standard input; its standard output.
/// Panics, with what Python printed, if it fails or cannot start.
pub fn run(dir: &Path, script: &str, args: &[&str], stdin: &str) -> String {
    let mut child = command(dir, script, args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; the Python tests need Python 3 with pydantic and pyzmq (`.ci/run` installs them)",
                interpreter()
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to Python");
    let output = child.wait_with_output().expect("Python ends");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python failed ({}):\n{stderr}\n{stdout}\n(the Python tests need pydantic and pyzmq: `.ci/run` installs them)",
        output.status
    );
    stdout
}

/// A fresh scratch directory for this process and `tag` (with a `_`, which is no Z85
/// character, so a key file's path in it never reads as a key).
pub fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("experimance_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `script` with `args`, to be run in `dir` with its standard input and output piped and its
/// standard error the test's: for a Python peer that runs beside the test, started with
/// `common::child::Kid::start`.
pub fn command(dir: &Path, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(interpreter());
    command
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// What a [`command`] is called in a test's messages.
pub const PEER: &str = "Python with pyzmq (`.ci/run` installs it)";
