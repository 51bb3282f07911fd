//! Helpers of the end-to-end tests: raw `zmq` peers on system-chosen ports, and the
//! `experimance` binary run as a child process with a safety timeout.
#![allow(dead_code)]

pub mod installation;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The safety net of every wait: a test that gets here has failed, it did not just run slowly.
pub const SAFETY: Duration = Duration::from_secs(10);

/// A bind address with a port chosen by the system.
pub const ANY_PORT: &str = "tcp://127.0.0.1:*";

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_experimance"))
}

/// A raw socket of `kind` bound on a system-chosen port, and its endpoint.
pub fn bound(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, String) {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(1000).unwrap();
    socket.set_rcvtimeo(SAFETY.as_millis() as i32).unwrap();
    socket.set_sndtimeo(SAFETY.as_millis() as i32).unwrap();
    if kind == zmq::XPUB {
        socket.set_xpub_verbose(true).unwrap();
    }
    socket.bind(ANY_PORT).unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    (socket, endpoint)
}

/// A raw socket of `kind` connected to `endpoint`.
pub fn connected(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(1000).unwrap();
    socket.set_rcvtimeo(SAFETY.as_millis() as i32).unwrap();
    socket.set_sndtimeo(SAFETY.as_millis() as i32).unwrap();
    socket.connect(endpoint).unwrap();
    socket
}

/// Waits until a subscriber's subscription reaches a raw XPUB: from then on, what it
/// publishes reaches that subscriber.
pub fn await_subscription(xpub: &zmq::Socket) {
    let frame = xpub.recv_bytes(0).expect("no subscription arrived in time");
    assert_eq!(frame.first(), Some(&1), "not a subscription: {frame:?}");
}

/// Receives one frame as text, within the safety timeout.
pub fn recv_text(socket: &zmq::Socket) -> String {
    let frame = socket.recv_bytes(0).expect("no message arrived in time");
    String::from_utf8(frame).unwrap()
}

/// A running `experimance` child: stdout collected, stderr readable line by line.
pub struct Spawned {
    pub child: Child,
    stdout: JoinHandle<String>,
    stderr_lines: mpsc::Receiver<String>,
    stderr: JoinHandle<Vec<String>>,
    seen: Vec<String>,
}

/// What a finished child gave.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `experimance ARGS` in the background.
pub fn spawn(args: &[&str]) -> Spawned {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    });
    let err = child.stderr.take().unwrap();
    let (tx, stderr_lines) = mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(err).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    Spawned {
        child,
        stdout,
        stderr_lines,
        stderr,
        seen: Vec::new(),
    }
}

impl Spawned {
    /// Waits for a stderr line containing `needle` and returns it. The child prints its
    /// first stderr line after its signal handlers and sockets are set up.
    pub fn await_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no stderr line with {needle:?}; saw {:?}", self.seen);
                }
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid has no memory-safety concerns.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the child to exit (killing it after the safety timeout, which fails the
    /// test) and collects its output.
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + SAFETY;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "experimance did not exit in time; stdout {:?}",
                    self.stdout.join().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Finished {
            status,
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap().join("\n"),
        }
    }
}

/// Runs `experimance ARGS` to completion with `stdin` as input, within the safety timeout.
pub fn run(args: &[&str], stdin: &str) -> assert_cmd::assert::Assert {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_experimance"))
        .args(args)
        .write_stdin(stdin)
        .timeout(SAFETY)
        .assert()
}

/// Runs `experimance ARGS` to completion in a thread, so that the test thread can meanwhile
/// receive on a raw bound socket: libzmq attaches a new peer to a socket (and a SUB sends its
/// subscriptions) only while the socket's own thread calls into it.
pub fn run_in_background(
    args: &[&str],
    stdin: &str,
) -> std::thread::JoinHandle<assert_cmd::assert::Assert> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.to_owned();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &stdin)
    })
}

/// The `tcp://` endpoints in `line`, in order.
pub fn endpoints(line: &str) -> Vec<String> {
    line.split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|w| w.starts_with("tcp://"))
        .map(str::to_owned)
        .collect()
}
