//! Helpers of the reliability tests (issue 4), shared by the `tests/reliability_*.rs` files:
//! raw libzmq peers with socket monitors, child processes re-executed from the test binary,
//! and the kernel's view (`/proc`) of TCP connections and of resident memory.
//!
//! Every wait here ends on an event (a message, a monitor event, a line printed by a child, a
//! kernel state); timeouts are only safety nets, and a test that reaches one has failed.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

#[path = "../common/capture.rs"]
pub mod capture;
#[path = "../common/child.rs"]
pub mod child;
#[path = "../common/raw.rs"]
pub mod raw;
#[path = "../common/wait.rs"]
pub mod wait;

#[allow(unused_imports)] // each test file uses part of the shared helpers
pub use child::{say, Kid};
#[allow(unused_imports)] // each test file uses part of the shared helpers
pub use raw::{Monitor, Raw, ANY_PORT, HANDSHAKE_ENDS, HANDSHAKE_FAILED};
#[allow(unused_imports)] // each test file uses part of the shared helpers
pub use wait::until;

/// The safety net of every wait (also of the shared [`raw`] and [`child`] helpers).
pub const SAFETY: Duration = Duration::from_secs(20);

/// Set (to the child's mode) in the environment of a re-executed test binary.
pub const CHILD_ENV: &str = "EXPERIMANCE_RELIABILITY_CHILD";

/// Extra arguments of a child, read by the child test.
pub const ARG_ENV: &str = "EXPERIMANCE_RELIABILITY_ARG";

/// The child mode this process runs in, if it is a child.
pub fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Runs `--exact <test>` of this binary with [`CHILD_ENV`] = `mode` and the `args` as
/// `EXPERIMANCE_RELIABILITY_ARG_<NAME>` variables; its stdin is piped (see [`child_stdin`]).
pub fn spawn_child(test: &str, mode: &str, args: &[(&str, &str)]) -> Kid {
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, test);
    command.env(CHILD_ENV, mode).stdin(Stdio::piped());
    for (name, value) in args {
        command.env(format!("{ARG_ENV}_{name}"), value);
    }
    Kid::start(command, mode)
}

/// In a child: the lines of stdin, in a channel. When stdin closes (the parent is gone) the
/// child exits (code 3), so no child outlives its test.
pub fn child_stdin() -> mpsc::UnboundedReceiver<String> {
    child::stdin_lines(3)
}

/// The argument given to a child by its parent.
pub fn child_arg(name: &str) -> String {
    std::env::var(format!("{ARG_ENV}_{name}"))
        .unwrap_or_else(|_| panic!("child argument {name} missing"))
}

/// In a child: sends the runtime's log lines (stderr) to stdout, where the parent reads
/// them, and installs the runtime's own subscriber (`RUST_LOG` and `NO_COLOR` come from
/// [`spawn_logging_child`]).
pub fn log_to_stdout() {
    // SAFETY: dup2 on the process's own standard descriptors, before anything logs.
    let duplicated = unsafe { libc::dup2(1, 2) };
    assert_eq!(duplicated, 2, "dup2(stdout, stderr)");
    experimance::init_logging();
}

/// Like [`spawn_child`], with the child's log lines at `info`, without colours (the child
/// calls [`log_to_stdout`]).
pub fn spawn_logging_child(test: &str, mode: &str, args: &[(&str, &str)]) -> Kid {
    let no_prefix: &[&str] = &[];
    let mut command = child::command(no_prefix, test);
    command
        .env(CHILD_ENV, mode)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped());
    for (name, value) in args {
        command.env(format!("{ARG_ENV}_{name}"), value);
    }
    Kid::start(command, mode)
}

/// The `name=value` field of a log or stats line, as a number.
pub fn field(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// A `tcp://127.0.0.1:PORT` address whose port the system just handed out (and that is free
/// again): for processes that must bind the same address twice (kill and restart).
pub fn free_tcp_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    format!("tcp://127.0.0.1:{port}")
}

/// The port of a `tcp://host:port` endpoint.
pub fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint:?}"))
}

/// Waits on `rx` for at most [`SAFETY`]; panics with `what` if nothing comes.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    match tokio::time::timeout(SAFETY, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("channel closed while waiting for {what}"),
        Err(_) => panic!("nothing within {SAFETY:?} while waiting for {what}"),
    }
}

/// Silences the default panic message of panics whose text contains `marker` (handlers
/// that panic on purpose, thousands of times); other panics print as usual.
pub fn quiet_panics(marker: &'static str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains(marker) {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// The kernel's view
// ---------------------------------------------------------------------------------------------

/// One IPv4 TCP socket of `/proc/net/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSocket {
    pub local_port: u16,
    pub remote_port: u16,
    /// The kernel's state number: 1 ESTABLISHED, 4 FIN_WAIT1, 5 FIN_WAIT2, 7 CLOSE, 8
    /// CLOSE_WAIT, 10 LISTEN, ...
    pub state: u8,
    pub tx_queue: u64,
    pub rx_queue: u64,
}

pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_LISTEN: u8 = 10;

/// The IPv4 TCP sockets of this network namespace.
pub fn tcp_sockets() -> Vec<TcpSocket> {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let hex_port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                return None;
            }
            let (tx, rx) = f[4].split_once(':')?;
            Some(TcpSocket {
                local_port: hex_port(f[1]),
                remote_port: hex_port(f[2]),
                state: u8::from_str_radix(f[3], 16).ok()?,
                tx_queue: u64::from_str_radix(tx, 16).ok()?,
                rx_queue: u64::from_str_radix(rx, 16).ok()?,
            })
        })
        .collect()
}

/// Polls the kernel's socket table (every millisecond) until `done` holds; panics with
/// `what` after [`SAFETY`]. This waits on a kernel state, not on time.
pub async fn until_tcp(what: &str, mut done: impl FnMut(&[TcpSocket]) -> bool) -> Vec<TcpSocket> {
    let deadline = Instant::now() + SAFETY;
    loop {
        let sockets = tcp_sockets();
        if done(&sockets) {
            return sockets;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {SAFETY:?}; sockets: {sockets:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}
