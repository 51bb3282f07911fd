//! Helpers of the reliability tests (issue 4), shared by the `tests/reliability_*.rs` files:
//! raw libzmq peers with socket monitors, child processes re-executed from the test binary,
//! and the kernel's view (`/proc`) of TCP connections and of resident memory.
//!
//! Every wait here ends on an event (a message, a monitor event, a line printed by a child, a
//! kernel state); timeouts are only safety nets, and a test that reaches one has failed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The safety net of every wait.
pub const SAFETY: Duration = Duration::from_secs(20);

/// A bind address with a port chosen by the system.
pub const ANY_PORT: &str = "tcp://127.0.0.1:*";

/// Set (to the child's mode) in the environment of a re-executed test binary.
pub const CHILD_ENV: &str = "EXPERIMANCE_RELIABILITY_CHILD";

/// Extra arguments of a child, read by the child test.
pub const ARG_ENV: &str = "EXPERIMANCE_RELIABILITY_ARG";

/// The child mode this process runs in, if it is a child.
pub fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The argument given to a child by its parent.
pub fn child_arg(name: &str) -> String {
    std::env::var(format!("{ARG_ENV}_{name}"))
        .unwrap_or_else(|_| panic!("child argument {name} missing"))
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
// Raw libzmq peers
// ---------------------------------------------------------------------------------------------

/// A libzmq socket in its own context, playing a foreign peer. Blocking calls run on tokio's
/// blocking pool.
pub struct Raw {
    sock: Option<zmq::Socket>,
    context: zmq::Context,
    /// The endpoint bound (with its real port) or connected to.
    pub endpoint: String,
}

static MONITORS: AtomicUsize = AtomicUsize::new(0);

impl Raw {
    /// A socket of `kind`, linger 0, send timeout [`SAFETY`]; not yet bound or connected.
    pub fn new(kind: zmq::SocketType) -> Raw {
        let context = zmq::Context::new();
        let sock = context.socket(kind).expect("create raw socket");
        sock.set_linger(0).expect("linger");
        sock.set_sndtimeo(SAFETY.as_millis() as i32)
            .expect("send timeout");
        Raw {
            sock: Some(sock),
            context,
            endpoint: String::new(),
        }
    }

    /// The socket, to set options before binding or connecting.
    pub fn sock(&self) -> &zmq::Socket {
        self.sock.as_ref().expect("socket")
    }

    pub fn bind(mut self, address: &str) -> Raw {
        self.sock().bind(address).expect("bind raw socket");
        self.endpoint = self
            .sock()
            .get_last_endpoint()
            .expect("last endpoint")
            .expect("UTF-8 endpoint");
        self
    }

    pub fn connect(mut self, endpoint: &str) -> Raw {
        self.sock().connect(endpoint).expect("connect raw socket");
        self.endpoint = endpoint.to_owned();
        self
    }

    /// Starts monitoring `events` (a mask of [`zmq::SocketEvent`]s); call before connecting.
    pub fn monitor(&self, events: &[zmq::SocketEvent]) -> Monitor {
        let mask = events.iter().fold(0i32, |m, e| m | e.to_raw() as i32);
        let n = MONITORS.fetch_add(1, Ordering::Relaxed);
        let address = format!("inproc://reliability-monitor-{n}");
        self.sock().monitor(&address, mask).expect("monitor");
        let pair = self.context.socket(zmq::PAIR).expect("monitor socket");
        pair.set_linger(0).expect("linger");
        pair.connect(&address).expect("connect monitor");
        Monitor {
            sock: Some(pair),
            seen: Vec::new(),
        }
    }

    /// Sends one single-frame message (waiting up to [`SAFETY`] for room).
    pub async fn send(&mut self, frame: impl Into<Vec<u8>>) {
        self.send_all(vec![vec![frame.into()]]).await;
    }

    /// Sends one frame without waiting; `false` if libzmq could not take it now.
    pub fn try_send(&mut self, frame: impl Into<Vec<u8>>) -> bool {
        match self.sock().send(frame.into(), zmq::DONTWAIT) {
            Ok(()) => true,
            Err(zmq::Error::EAGAIN) => false,
            Err(e) => panic!("raw send failed: {e}"),
        }
    }

    /// Sends many messages (each a list of frames) in one trip to the blocking pool.
    pub async fn send_all(&mut self, messages: Vec<Vec<Vec<u8>>>) {
        let sock = self.sock.take().expect("socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            let mut result = Ok(());
            for parts in messages {
                result = sock.send_multipart(parts, 0);
                if result.is_err() {
                    break;
                }
            }
            (sock, result)
        })
        .await
        .expect("send task");
        self.sock = Some(sock);
        result.expect("raw send (timed out?)");
    }

    /// The frames of the next message, if one arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Vec<Vec<u8>>> {
        let sock = self.sock.take().expect("socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            sock.set_rcvtimeo(wait.as_millis() as i32)
                .expect("receive timeout");
            let result = sock.recv_multipart(0);
            (sock, result)
        })
        .await
        .expect("receive task");
        self.sock = Some(sock);
        match result {
            Ok(parts) => Some(parts),
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("raw receive failed: {e}"),
        }
    }

    /// The next single-frame message; panics after [`SAFETY`].
    pub async fn recv(&mut self) -> Vec<u8> {
        let mut parts = self
            .recv_within(SAFETY)
            .await
            .unwrap_or_else(|| panic!("nothing on the raw socket within {SAFETY:?}"));
        assert_eq!(parts.len(), 1, "one frame per message: {parts:?}");
        parts.remove(0)
    }

    /// Closes the socket and terminates its context with an infinite linger: returns once
    /// libzmq has handed every queued message to the kernel. Drop its monitors first (an open
    /// monitor socket would keep the context alive).
    pub async fn close_flushing(self) {
        tokio::task::spawn_blocking(move || {
            let mut raw = self;
            if let Some(sock) = raw.sock.take() {
                sock.set_linger(-1).expect("linger");
            }
            // Dropping the last handle terminates the context, which waits for the flush.
            drop(raw);
        })
        .await
        .expect("close task");
    }
}

/// The monitor of a [`Raw`] socket: its connection events.
pub struct Monitor {
    sock: Option<zmq::Socket>,
    /// Every event received so far.
    pub seen: Vec<zmq::SocketEvent>,
}

impl Monitor {
    /// The next event, if one comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<zmq::SocketEvent> {
        let sock = self.sock.take().expect("monitor socket");
        let (sock, result) = tokio::task::spawn_blocking(move || {
            sock.set_rcvtimeo(wait.as_millis() as i32)
                .expect("receive timeout");
            let result = sock.recv_multipart(0);
            (sock, result)
        })
        .await
        .expect("monitor task");
        self.sock = Some(sock);
        match result {
            Ok(parts) => {
                let raw = u16::from_le_bytes([parts[0][0], parts[0][1]]);
                let event = zmq::SocketEvent::from_raw(raw);
                self.seen.push(event);
                Some(event)
            }
            Err(zmq::Error::EAGAIN) => None,
            Err(e) => panic!("monitor receive failed: {e}"),
        }
    }

    /// Waits for the first event in `wanted`; panics after [`SAFETY`].
    pub async fn wait_for(&mut self, wanted: &[zmq::SocketEvent]) -> zmq::SocketEvent {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Some(e) if wanted.contains(&e) => return e,
                Some(_) => {}
                None => panic!(
                    "none of {wanted:?} within {SAFETY:?}; monitor saw {:?}",
                    self.seen
                ),
            }
        }
    }
}

/// The monitor events that say a handshake was refused.
pub const HANDSHAKE_FAILED: [zmq::SocketEvent; 3] = [
    zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
];

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// A copy of this test binary running one child test in `mode`, with the lines it prints.
/// Dropping it kills the process (SIGKILL) if it still runs.
pub struct Spawned {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

/// Runs `--exact <test>` of this binary with [`CHILD_ENV`] = `mode` and the `args` as
/// `EXPERIMANCE_RELIABILITY_ARG_<NAME>` variables.
pub fn spawn_child(test: &str, mode: &str, args: &[(&str, &str)]) -> Spawned {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (name, value) in args {
        command.env(format!("{ARG_ENV}_{name}"), value);
    }
    let mut child = command.spawn().expect("spawn child test");
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take();
    let (tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Spawned {
        child: Some(child),
        stdin,
        lines,
        seen: Vec::new(),
    }
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// The next line, if one comes within `wait`; `None` also when stdout closed.
    pub async fn next_line_within(&mut self, wait: Duration) -> Option<String> {
        let line = tokio::time::timeout(wait, self.lines.recv())
            .await
            .ok()
            .flatten()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits for a line holding `prefix` and returns what follows it. (The child's first line
    /// also carries libtest's `test child_x ... ` without a newline, so `prefix` is searched,
    /// not anchored.)
    pub async fn line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + SAFETY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line_within(left).await {
                Some(line) if line.contains(prefix) => {
                    let at = line.find(prefix).unwrap() + prefix.len();
                    return line[at..].trim().to_owned();
                }
                Some(_) => {}
                None => panic!(
                    "no `{prefix}` line from the child (pid {}); it printed {:?}",
                    self.pid(),
                    self.seen
                ),
            }
        }
    }

    /// Writes one line to the child's stdin.
    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to child");
        stdin.flush().expect("flush child stdin");
    }

    /// Sends `kill -<name>` to the child.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the child to exit (SIGKILL and panic after [`SAFETY`]); returns its status
    /// and everything it printed.
    pub async fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("child");
        let pid = child.id();
        let waited =
            tokio::time::timeout(SAFETY, tokio::task::spawn_blocking(move || child.wait())).await;
        let status = match waited {
            Ok(status) => status.expect("wait task").expect("wait for child"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("child {pid} did not exit; it printed {:?}", self.seen);
            }
        };
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        // Stdout closes when the child exits: collect the rest.
        while let Some(line) = self.next_line_within(SAFETY).await {
            let _ = line;
        }
        (status, std::mem::take(&mut self.seen))
    }

    /// SIGKILLs the child and waits until it is gone (its sockets are closed by then).
    pub async fn kill(self) -> ExitStatus {
        self.signal("KILL");
        self.wait().await.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// In a child: the lines of stdin, in a channel. When stdin closes (the parent is gone) the
/// child exits, so no child outlives its test.
pub fn child_stdin() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
        std::process::exit(3);
    });
    rx
}

/// In a child: prints one line to the parent.
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
