//! The DSL side by side with raw libzmq and with a hand-written tokio + tmq loop, in one
//! process run, so that machine noise cancels out of the ratios (issue 5).
//!
//! ```text
//! cargo bench --bench compare                  # everything, one table (about 5 minutes)
//! cargo bench --bench compare -- pubsub rtt    # only some sections
//! COMPARE_SCALE=0.2 cargo bench --bench compare  # fewer messages per repetition
//! COMPARE_ONLY=c cargo bench --bench compare -- pubsub  # one variant, for a profiler
//! COMPARE_LOG=1 cargo bench --bench compare     # with experimance::init_logging() (info)
//! ```
//!
//! Sections, in the order they run: `pubsub`, `pushpull`, `large`, `borrowed`, `rtt`
//! (`compare/roundtrip.rs`), `fanin`, `fanout`, `many` (`compare/scale.rs`), `images`
//! (`compare/images.rs`), `idle`, `startup`. Every figure is the median of several
//! repetitions, shown with its spread (min–max). Every port is chosen by the system
//! (`tcp://127.0.0.1:*`) and read back. The variants:
//!
//! - (a) raw libzmq: the `zmq` crate, blocking, one thread each side, pre-encoded frames and
//!   no JSON at all: the limit of the transport.
//! - (a′) the same with `serde_json` on both ends (encode every message, decode it into the
//!   typed struct): what the transport costs once the JSON work is done.
//! - (b) a hand-written tokio + tmq loop with `serde_json` into the same struct: what a user
//!   would write without the DSL.
//! - (c) a `#[service]` sender and a `#[service]` receiver with a typed handler.
//! - (z) in `rtt` only: the pure-Rust `zeromq` crate on tokio, with `serde_json`.
//!
//! The sections with several processes (`fanin`, `fanout`, the second placement of `rtt`,
//! `idle`) run this binary again as their children (`--scale-child`, `--rtt-child`,
//! `--idle-child`); a child ends when its standard input closes.
//! PUB/SUB runs synchronise the start (slow joiner) by publishing `warm` messages until the
//! subscriber has seen one, then time a fixed count. High-water marks are unlimited on the
//! PUB/SUB sockets of every variant so nothing is dropped; every run checks that the whole
//! count arrived and reports drops if not. PUSH/PULL runs keep libzmq's default HWM (1000),
//! so the backpressure path is part of what is measured.
//!
//! Memory and idle CPU are measured in child processes (this binary with `--idle-child`), so
//! that each repetition starts from a fresh process, once the services have run for a first
//! heartbeat interval (their start-up looks for late heartbeat watchers are over).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Error, Role, Runner};
use futures::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use tmq::AsZmqSocket;
use tokio::sync::oneshot;

// Beside this file, not in `benches/` itself, where cargo would take them for benchmarks.
#[path = "compare/images.rs"]
mod images;
#[path = "compare/roundtrip.rs"]
mod roundtrip;
#[path = "compare/scale.rs"]
mod scale;

/// A bind address with a port chosen by the system.
const ANY: &str = "tcp://127.0.0.1:*";
/// Repetitions of every figure of sections 1–4.
const REPS: usize = 7;
/// Repetitions of the start-up figure (a lost first heartbeat costs 5 s).
const STARTUP_REPS: usize = 5;
/// The `seq` of the one synchronisation message of a PUSH/PULL run.
const SYNC: u64 = u64::MAX;
/// A receiver that sees nothing new for this long has stalled (drops).
const STALL: Duration = Duration::from_secs(3);
/// Padding that makes the PUB/SUB frame about 100 bytes.
const SMALL_PAD: usize = 30;

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// What every sender encodes: `{"type":"EraChanged","era":"modern","year":2024,"seq":N,"pad":"xx.."}`.
#[derive(Serialize)]
struct EraOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    era: &'a str,
    year: u32,
    seq: u64,
    pad: &'a str,
}

impl<'a> EraOut<'a> {
    fn new(era: &'a str, seq: u64, pad: &'a str) -> Self {
        EraOut {
            kind: "EraChanged",
            era,
            year: 2024,
            seq,
            pad,
        }
    }
}

/// What every typed receiver decodes into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct EraChanged {
    #[serde(rename = "type")]
    kind: String,
    era: String,
    year: u32,
    seq: u64,
    pad: String,
}

/// What the borrowing receivers decode into: the strings point into the frame.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct EraBorrowed<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    era: &'a str,
    year: u32,
    seq: u64,
    pad: &'a str,
}

/// How a raw receiver decodes what it gets.
#[derive(Clone, Copy, PartialEq)]
enum Decode {
    /// Counts bytes only (a).
    Not,
    /// Into [`EraChanged`] (a′).
    Owned,
    /// Into [`EraBorrowed`].
    Borrowed,
}

/// The task of the round trip, echoed back by the worker.
#[derive(Debug, Serialize, Deserialize)]
struct Ping {
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    sent_ns: u64,
    payload: String,
}

fn pad(len: usize) -> Arc<String> {
    Arc::new("x".repeat(len))
}

fn encode_frame(topic: &str, msg: &EraOut<'_>) -> Vec<u8> {
    let mut frame = Vec::with_capacity(msg.pad.len() + 96);
    frame.extend_from_slice(topic.as_bytes());
    frame.push(b' ');
    serde_json::to_writer(&mut frame, msg).expect("encode");
    frame
}

fn split(frame: &[u8]) -> (&[u8], &[u8]) {
    let space = frame.iter().position(|&b| b == b' ').expect("a space");
    (&frame[..space], &frame[space + 1..])
}

/// Nanoseconds since the first call, for timestamps that travel in messages.
fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------------------------
// One timed run
// ---------------------------------------------------------------------------------------------

/// The outcome of one throughput run: how long the measured count took to arrive, and how
/// much of it did.
#[derive(Debug, Clone, Copy)]
struct Run {
    elapsed: Duration,
    sent: u64,
    received: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64()
    }
}

/// Waits for `done` (the receiver's instant of the last message), watching `got` for
/// progress: a receiver that stalls (drops) ends the run with what it received.
async fn finish<F>(done: F, got: &AtomicU64, t0: Instant, sent: u64) -> Run
where
    F: std::future::Future<Output = Instant>,
{
    tokio::pin!(done);
    let mut last = got.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        tokio::select! {
            t1 = &mut done => {
                return Run { elapsed: t1 - t0, sent, received: sent };
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                let now = got.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    last_change = Instant::now();
                } else if last_change.elapsed() > STALL {
                    return Run { elapsed: last_change - t0, sent, received: now };
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) raw libzmq
// ---------------------------------------------------------------------------------------------

fn raw_socket(ctx: &zmq::Context, kind: zmq::SocketType, hwm: Option<i32>) -> zmq::Socket {
    let s = ctx.socket(kind).expect("socket");
    s.set_linger(0).expect("linger");
    if let Some(hwm) = hwm {
        s.set_sndhwm(hwm).expect("sndhwm");
        s.set_rcvhwm(hwm).expect("rcvhwm");
    }
    s
}

fn bind_any(s: &zmq::Socket) -> String {
    s.bind(ANY).expect("bind");
    s.get_last_endpoint().expect("endpoint").expect("utf-8")
}

/// Raw PUB→SUB (`pubsub`) or PUSH→PULL; `json` encodes every message and decodes it into
/// [`EraChanged`] (a′), else pre-encoded bytes are sent and only counted (a).
fn raw_throughput(pubsub: bool, json: bool, n: u64, pad: &str) -> Run {
    let decode = if json { Decode::Owned } else { Decode::Not };
    raw_throughput_into(pubsub, decode, n, pad)
}

/// [`raw_throughput`], decoding as `decode` says.
fn raw_throughput_into(pubsub: bool, decode: Decode, n: u64, pad: &str) -> Run {
    let json = decode != Decode::Not;
    let (send_kind, recv_kind, hwm) = if pubsub {
        (zmq::PUB, zmq::SUB, Some(0))
    } else {
        (zmq::PUSH, zmq::PULL, None)
    };
    let send_ctx = zmq::Context::new();
    let recv_ctx = zmq::Context::new();
    let sender = raw_socket(&send_ctx, send_kind, hwm);
    let endpoint = bind_any(&sender);
    let receiver = raw_socket(&recv_ctx, recv_kind, hwm);
    receiver
        .set_rcvtimeo(STALL.as_millis() as i32)
        .expect("rcvtimeo");
    if pubsub {
        receiver.set_subscribe(b"era").expect("subscribe");
        receiver.set_subscribe(b"warm").expect("subscribe");
    }
    receiver.connect(&endpoint).expect("connect");
    let synced = Arc::new(AtomicBool::new(false));
    let receiving = {
        let synced = Arc::clone(&synced);
        thread::spawn(move || {
            let mut msg = zmq::Message::new();
            let mut got = 0u64;
            loop {
                if receiver.recv(&mut msg, 0).is_err() {
                    return (Instant::now() - STALL, got);
                }
                if !synced.load(Ordering::Relaxed) {
                    // PUB/SUB: `warm` frames until synced; PUSH/PULL: one sync message.
                    if !pubsub || msg.first() == Some(&b'w') {
                        synced.store(true, Ordering::Release);
                        continue;
                    }
                } else if pubsub && msg.first() == Some(&b'w') {
                    continue;
                }
                let payload = if pubsub { split(&msg).1 } else { &msg[..] };
                match decode {
                    Decode::Not => {}
                    Decode::Owned => {
                        let m: EraChanged = serde_json::from_slice(payload).expect("decode");
                        black_box(&m);
                    }
                    Decode::Borrowed => {
                        let m: EraBorrowed = serde_json::from_slice(payload).expect("decode");
                        black_box(&m);
                    }
                }
                got += 1;
                if got == n {
                    return (Instant::now(), got);
                }
            }
        })
    };
    let warm = if pubsub {
        encode_frame("warm", &EraOut::new("warm", 0, ""))
    } else {
        serde_json::to_vec(&EraOut::new("warm", SYNC, "")).expect("encode")
    };
    if pubsub {
        while !synced.load(Ordering::Acquire) {
            sender.send(&warm[..], 0).expect("send");
            thread::sleep(Duration::from_millis(1));
        }
    } else {
        sender.send(&warm[..], 0).expect("send");
        while !synced.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
    }
    let t0 = Instant::now();
    if json {
        let mut buf = Vec::with_capacity(pad.len() + 96);
        for seq in 0..n {
            buf.clear();
            if pubsub {
                buf.extend_from_slice(b"era ");
            }
            serde_json::to_writer(&mut buf, &EraOut::new("modern", seq, pad)).expect("encode");
            sender.send(&buf[..], 0).expect("send");
        }
    } else {
        let frame = if pubsub {
            encode_frame("era", &EraOut::new("modern", 0, pad))
        } else {
            serde_json::to_vec(&EraOut::new("modern", 0, pad)).expect("encode")
        };
        for _ in 0..n {
            sender.send(&frame[..], 0).expect("send");
        }
    }
    let (t1, received) = receiving.join().expect("receiver thread");
    Run {
        elapsed: t1 - t0,
        sent: n,
        received,
    }
}

// ---------------------------------------------------------------------------------------------
// (b) hand-written tokio + tmq
// ---------------------------------------------------------------------------------------------

async fn tmq_pubsub(n: u64, pad: Arc<String>) -> Run {
    let send_ctx = zmq::Context::new();
    let recv_ctx = zmq::Context::new();
    let mut publisher = tmq::publish(&send_ctx)
        .set_sndhwm(0)
        .set_linger(0)
        .bind(ANY)
        .expect("bind");
    let endpoint = publisher
        .get_socket()
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8");
    let mut subscriber = tmq::subscribe(&recv_ctx)
        .set_rcvhwm(0)
        .set_linger(0)
        .connect(&endpoint)
        .expect("connect")
        .subscribe(b"era")
        .expect("subscribe");
    subscriber.subscribe(b"warm").expect("subscribe");
    let synced = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let receiving = tokio::spawn({
        let synced = Arc::clone(&synced);
        let got = Arc::clone(&got);
        async move {
            let mut count = 0u64;
            while let Some(parts) = subscriber.next().await {
                let parts = parts.expect("recv");
                let (topic, payload) = split(&parts[0]);
                if topic == b"warm" {
                    synced.store(true, Ordering::Release);
                    continue;
                }
                let m: EraChanged = serde_json::from_slice(payload).expect("decode");
                black_box(&m);
                count += 1;
                got.store(count, Ordering::Relaxed);
                if count == n {
                    break;
                }
            }
            Instant::now()
        }
    });
    let warm = encode_frame("warm", &EraOut::new("warm", 0, ""));
    while !synced.load(Ordering::Acquire) {
        publisher.send(vec![warm.clone()]).await.expect("send");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    for seq in 0..n {
        let frame = encode_frame("era", &EraOut::new("modern", seq, &pad));
        publisher.send(vec![frame]).await.expect("send");
    }
    let done = async { receiving.await.expect("receiver task") };
    finish(done, &got, t0, n).await
}

async fn tmq_pushpull(n: u64, pad: Arc<String>) -> Run {
    let send_ctx = zmq::Context::new();
    let recv_ctx = zmq::Context::new();
    let mut pusher = tmq::push(&send_ctx).set_linger(0).bind(ANY).expect("bind");
    let endpoint = pusher
        .get_socket()
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8");
    let mut puller = tmq::pull(&recv_ctx)
        .set_linger(0)
        .connect(&endpoint)
        .expect("connect");
    let synced = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let receiving = tokio::spawn({
        let synced = Arc::clone(&synced);
        let got = Arc::clone(&got);
        async move {
            let mut count = 0u64;
            while let Some(parts) = puller.next().await {
                let parts = parts.expect("recv");
                let m: EraChanged = serde_json::from_slice(&parts[0]).expect("decode");
                if m.seq == SYNC {
                    synced.store(true, Ordering::Release);
                    continue;
                }
                black_box(&m);
                count += 1;
                got.store(count, Ordering::Relaxed);
                if count == n {
                    break;
                }
            }
            Instant::now()
        }
    });
    let sync = serde_json::to_vec(&EraOut::new("warm", SYNC, "")).expect("encode");
    pusher.send(vec![sync]).await.expect("send");
    while !synced.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    for seq in 0..n {
        let mut frame = Vec::with_capacity(pad.len() + 96);
        serde_json::to_writer(&mut frame, &EraOut::new("modern", seq, &pad)).expect("encode");
        pusher.send(vec![frame]).await.expect("send");
    }
    let done = async { receiving.await.expect("receiver task") };
    finish(done, &got, t0, n).await
}

// ---------------------------------------------------------------------------------------------
// (c) services
// ---------------------------------------------------------------------------------------------

/// What a sending service is asked to do: sync, then send `n` messages, and tell when it
/// started the measured ones.
struct Job {
    /// The topic of the measured messages: `era` (owned handler) or `erb` (borrowing one).
    topic: &'static str,
    n: u64,
    pad: Arc<String>,
    synced: Arc<AtomicBool>,
    started: oneshot::Sender<Instant>,
}

/// What a receiving service reports into.
struct Tally {
    n: u64,
    count: u64,
    gaps: u64,
    got: Arc<AtomicU64>,
    synced: Arc<AtomicBool>,
    done: Option<oneshot::Sender<Instant>>,
}

impl Tally {
    fn new(n: u64, synced: Arc<AtomicBool>) -> (Tally, Arc<AtomicU64>, oneshot::Receiver<Instant>) {
        let got = Arc::new(AtomicU64::new(0));
        let (done, done_rx) = oneshot::channel();
        let tally = Tally {
            n,
            count: 0,
            gaps: 0,
            got: Arc::clone(&got),
            synced,
            done: Some(done),
        };
        (tally, got, done_rx)
    }

    fn take(&mut self, seq: u64) {
        if seq != self.count {
            self.gaps += 1;
        }
        self.count += 1;
        self.got.store(self.count, Ordering::Relaxed);
        if self.count == self.n {
            if let Some(done) = self.done.take() {
                let _ = done.send(Instant::now());
            }
        }
    }
}

#[service(pub = "tcp://127.0.0.1:*")]
struct Publisher {
    job: Option<Job>,
}

#[handlers]
impl Publisher {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        if let Some(job) = self.job.take() {
            let ctx2 = ctx.clone();
            ctx.spawn("blast", async move { blast_pub(ctx2, job).await });
        }
    }
}

async fn blast_pub(ctx: Context<Publisher>, job: Job) -> Result<(), Error> {
    blast(ctx, 0, job).await
}

/// A publishing service's part of a run: `warm` messages carrying `index` until
/// `job.synced`, then `job.n` messages on `job.topic`.
async fn blast<S: experimance::HasPub>(ctx: Context<S>, index: u64, job: Job) -> Result<(), Error> {
    let warm = EraOut::new("warm", index, "");
    while !job.synced.load(Ordering::Acquire) {
        ctx.publish_to("warm", &warm).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    for seq in 0..job.n {
        ctx.publish_to(job.topic, &EraOut::new("modern", seq, &job.pad))
            .await?;
    }
    let _ = job.started.send(t0);
    Ok(())
}

#[service(sub = "tcp://127.0.0.1:1", topics = ["era", "erb", "warm"])]
struct Subscriber {
    tally: Tally,
}

#[handlers]
impl Subscriber {
    #[topic("warm")]
    async fn on_warm(&mut self, _msg: IgnoredAny) {
        self.tally.synced.store(true, Ordering::Release);
    }

    #[topic("era")]
    async fn on_era(&mut self, msg: EraChanged) {
        self.tally.take(msg.seq);
    }

    /// The same message, its strings borrowed from the frame.
    #[topic("erb")]
    async fn on_erb(&mut self, msg: EraBorrowed<'_>) {
        self.tally.take(msg.seq);
    }
}

#[service(push = "tcp://127.0.0.1:*")]
struct Pusher {
    job: Option<Job>,
}

#[handlers]
impl Pusher {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        if let Some(job) = self.job.take() {
            let ctx2 = ctx.clone();
            ctx.spawn("blast", async move { blast_push(ctx2, job).await });
        }
    }
}

async fn blast_push(ctx: Context<Pusher>, job: Job) -> Result<(), Error> {
    ctx.push(&EraOut::new("warm", SYNC, "")).await?;
    while !job.synced.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    for seq in 0..job.n {
        ctx.push(&EraOut::new("modern", seq, &job.pad)).await?;
    }
    let _ = job.started.send(t0);
    Ok(())
}

#[service(pull = "tcp://127.0.0.1:1")]
struct Puller {
    tally: Tally,
}

#[handlers]
impl Puller {
    #[task]
    async fn on_task(&mut self, msg: EraChanged) {
        if msg.seq == SYNC {
            self.tally.synced.store(true, Ordering::Release);
            return;
        }
        self.tally.take(msg.seq);
    }
}

async fn service_pubsub(n: u64, pad: Arc<String>) -> Run {
    service_pubsub_on("era", n, pad).await
}

/// [`service_pubsub`] on `topic`: `erb` has the subscriber borrow from the frame.
async fn service_pubsub_on(topic: &'static str, n: u64, pad: Arc<String>) -> Run {
    let synced = Arc::new(AtomicBool::new(false));
    let (started, started_rx) = oneshot::channel();
    let job = Job {
        topic,
        n,
        pad,
        synced: Arc::clone(&synced),
        started,
    };
    let publisher = Runner::new(Publisher { job: Some(job) })
        .with_address(Role::Pub, ANY)
        .with_hwm(Role::Pub, 0);
    publisher.start().await.expect("start publisher");
    let endpoint = publisher.endpoint(Role::Pub).expect("endpoint");
    let (tally, got, done) = Tally::new(n, synced);
    let subscriber = Runner::new(Subscriber { tally })
        .with_address(Role::Sub, endpoint)
        .with_hwm(Role::Sub, 0);
    subscriber.start().await.expect("start subscriber");
    let t0 = started_rx.await.expect("publisher ran");
    let run = finish(async { done.await.expect("subscriber ran") }, &got, t0, n).await;
    // Receivers first: a SUB whose publisher is gone lingers on its queued subscriptions.
    subscriber.stop().await;
    publisher.stop().await;
    let gaps = subscriber.with_service(|s| s.tally.gaps).expect("stopped");
    assert_eq!(gaps, 0, "messages arrived out of order or with gaps");
    run
}

async fn service_pushpull(n: u64, pad: Arc<String>) -> Run {
    let synced = Arc::new(AtomicBool::new(false));
    let (started, started_rx) = oneshot::channel();
    let job = Job {
        topic: "era",
        n,
        pad,
        synced: Arc::clone(&synced),
        started,
    };
    let pusher = Runner::new(Pusher { job: Some(job) }).with_address(Role::Push, ANY);
    pusher.start().await.expect("start pusher");
    let endpoint = pusher.endpoint(Role::Push).expect("endpoint");
    let (tally, got, done) = Tally::new(n, synced);
    let puller = Runner::new(Puller { tally }).with_address(Role::Pull, endpoint);
    puller.start().await.expect("start puller");
    let t0 = started_rx.await.expect("pusher ran");
    let run = finish(async { done.await.expect("puller ran") }, &got, t0, n).await;
    puller.stop().await;
    pusher.stop().await;
    run
}

// ---------------------------------------------------------------------------------------------
// (5) idle services, in a child process
// ---------------------------------------------------------------------------------------------

#[service(pub = "tcp://127.0.0.1:*", sub = "tcp://127.0.0.1:1", topics = ["era"])]
struct Idle;

/// How long idle services run before they are measured: past the first heartbeat interval
/// (5 s by default), in which a service still looks for late heartbeat watchers.
const SETTLE: Duration = Duration::from_secs(6);

#[handlers]
impl Idle {
    #[topic("era")]
    async fn on_era(&mut self, msg: EraChanged) {
        black_box(msg);
    }
}

/// This process's resident memory, in bytes, from one read: all of it (`VmRSS`), and its
/// anonymous part (`RssAnon`: heap and stacks, without the pages of code and libraries read
/// in).
fn memory() -> [u64; 2] {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    ["VmRSS:", "RssAnon:"].map(|field| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
            * 1024
    })
}

/// [`memory`] now, less `base`.
fn memory_since(base: [u64; 2]) -> [f64; 2] {
    let now = memory();
    [0, 1].map(|i| now[i].saturating_sub(base[i]) as f64)
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU used over `window` of idling, as a percentage of one core.
async fn idle_cpu(window: Duration) -> f64 {
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let cpu = cpu_time() - cpu0;
    100.0 * cpu.as_secs_f64() / t0.elapsed().as_secs_f64()
}

/// One repetition of (5) in this (child) process. With ZMTP heartbeats at their default
/// (`zmtp = true`) it prints `IDLE <rss one> <rss hundred> <cpu one %> <cpu hundred %>
/// <anon one> <anon hundred>` (RSS and its anonymous part, as deltas); without them, only the
/// CPU of 100 services: `IDLE <cpu hundred %>`.
fn idle_child(zmtp: bool) {
    let rt = runtime();
    rt.block_on(async {
        // The bus every idle service subscribes to; nothing is published on it.
        let bus_ctx = zmq::Context::new();
        let bus = raw_socket(&bus_ctx, zmq::PUB, None);
        let bus_at = bind_any(&bus);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let base = memory();
        let start = |i: usize| {
            let runner = Runner::new(Idle)
                .with_name(format!("Idle{i}"))
                .with_address(Role::Pub, ANY)
                .with_address(Role::Sub, bus_at.clone());
            if zmtp {
                runner
            } else {
                runner.with_zmtp_heartbeat(None)
            }
        };
        let mut runners = Vec::new();
        let mut figures = Vec::new();
        let mut anon = Vec::new();
        if zmtp {
            let first = start(0);
            first.start().await.expect("start");
            runners.push(first);
            tokio::time::sleep(SETTLE).await;
            let [rss, anonymous] = memory_since(base);
            figures.push(rss);
            anon.push(anonymous);
            figures.push(idle_cpu(Duration::from_secs(3)).await);
        }
        while runners.len() < 100 {
            let runner = start(runners.len());
            runner.start().await.expect("start");
            runners.push(runner);
        }
        tokio::time::sleep(SETTLE).await;
        if zmtp {
            let [rss, anonymous] = memory_since(base);
            figures.insert(1, rss);
            anon.push(anonymous);
        }
        figures.push(idle_cpu(Duration::from_secs(8)).await);
        figures.extend(anon);
        let figures: Vec<String> = figures.iter().map(f64::to_string).collect();
        println!("IDLE {}", figures.join(" "));
    });
    // No graceful stop: the figures are out, and the process ends here.
    std::process::exit(0);
}

/// Starts one idle repetition in a fresh child process; see [`idle_child`].
fn spawn_idle(zmtp: bool) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    let mut command = std::process::Command::new(exe);
    command.arg("--idle-child");
    if !zmtp {
        command.arg("--no-zmtp");
    }
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start idle child")
}

/// The figures an idle child printed.
fn idle_figures(child: std::process::Child) -> Vec<f64> {
    let out = child.wait_with_output().expect("run idle child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("IDLE "))
        .unwrap_or_else(|| {
            panic!(
                "idle child printed no figures: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line[5..]
        .split_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (6) from start to the first heartbeat on the wire
// ---------------------------------------------------------------------------------------------

#[service(pub = "tcp://127.0.0.1:*")]
struct Beacon;

#[handlers]
impl Beacon {}

/// A raw SUB binds; the service's PUB connects to it (`>`), so the subscriber exists before
/// the service starts. Measures `Runner::start` → the heartbeat frame received.
async fn first_heartbeat() -> Duration {
    let ctx = zmq::Context::new();
    let sub = raw_socket(&ctx, zmq::SUB, None);
    sub.set_subscribe(b"heartbeat").expect("subscribe");
    sub.set_rcvtimeo(20_000).expect("rcvtimeo");
    let at = bind_any(&sub);
    let (t0_tx, t0_rx) = std::sync::mpsc::channel::<Instant>();
    let receiving = thread::spawn(move || {
        let t0 = t0_rx.recv().expect("t0");
        let _ = sub.recv_msg(0).expect("a heartbeat within 20 s");
        Instant::now() - t0
    });
    let runner = Runner::new(Beacon).with_address(Role::Pub, format!(">{at}"));
    let t0 = Instant::now();
    t0_tx.send(t0).expect("receiver waits");
    runner.start().await.expect("start");
    let elapsed = tokio::task::spawn_blocking(move || receiving.join().expect("receiver"))
        .await
        .expect("join");
    runner.stop().await;
    elapsed
}

// ---------------------------------------------------------------------------------------------
// Statistics and the table
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Stat(Vec<f64>);

impl Stat {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        let n = v.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// How a figure is printed.
#[derive(Clone, Copy)]
enum Unit {
    PerSecond,
    MegabytesPerSecond,
    Micros,
    Millis,
    Mebibytes,
    Percent,
    Ratio,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::PerSecond if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
            Unit::PerSecond => format!("{:.0} k/s", v / 1e3),
            Unit::MegabytesPerSecond => format!("{v:.0} MB/s"),
            Unit::Micros => format!("{:.1} µs", v / 1e3),
            Unit::Millis => format!("{:.1} ms", v / 1e6),
            Unit::Mebibytes => format!("{:.2} MiB", v / (1024.0 * 1024.0)),
            Unit::Percent => format!("{v:.3} %"),
            Unit::Ratio => format!("{v:.2}×"),
        }
    }
    fn bare(self, v: f64) -> String {
        match self {
            Unit::PerSecond if v >= 1e6 => format!("{:.2}", v / 1e6),
            Unit::PerSecond => format!("{:.0}k", v / 1e3),
            Unit::MegabytesPerSecond => format!("{v:.0}"),
            Unit::Micros => format!("{:.1}", v / 1e3),
            Unit::Millis => format!("{:.1}", v / 1e6),
            Unit::Mebibytes => format!("{:.2}", v / (1024.0 * 1024.0)),
            Unit::Percent => format!("{v:.3}"),
            Unit::Ratio => format!("{v:.2}"),
        }
    }
}

struct Row {
    figure: String,
    variant: String,
    median: String,
    spread: String,
    note: String,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    targets: Vec<(String, bool)>,
}

impl Table {
    fn add(&mut self, figure: &str, variant: &str, stat: &Stat, unit: Unit, note: String) {
        self.rows.push(Row {
            figure: figure.to_owned(),
            variant: variant.to_owned(),
            median: unit.show(stat.median()),
            spread: format!("{}–{}", unit.bare(stat.min()), unit.bare(stat.max())),
            note,
        });
    }

    fn target(&mut self, what: String, met: bool) -> String {
        let mark = if met { "met" } else { "MISSED" };
        self.targets.push((what.clone(), met));
        format!("target {what}: {mark}")
    }

    fn print(&self) {
        let headers = [
            "figure",
            "variant",
            "median",
            "spread (min–max)",
            "ratio / target",
        ];
        let cells: Vec<[&str; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.as_str(),
                    r.variant.as_str(),
                    r.median.as_str(),
                    r.spread.as_str(),
                    r.note.as_str(),
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 5]| {
            let mut out = String::from("|");
            for (c, w) in cells.iter().zip(widths) {
                out.push(' ');
                out.push_str(c);
                out.push_str(&" ".repeat(w - c.chars().count()));
                out.push_str(" |");
            }
            out
        };
        println!();
        println!("{}", line(headers));
        println!(
            "|{}",
            widths
                .iter()
                .map(|w| format!("{}|", "-".repeat(w + 2)))
                .collect::<String>()
        );
        let mut previous = "";
        for row in &cells {
            let mut row = *row;
            if row[0] == previous {
                row[0] = "";
            } else {
                previous = row[0];
            }
            println!("{}", line(row));
        }
        if !self.targets.is_empty() {
            let met = self.targets.iter().filter(|(_, m)| *m).count();
            println!();
            println!("targets met: {met} of {}", self.targets.len());
            for (what, m) in &self.targets {
                println!("  [{}] {what}", if *m { "x" } else { " " });
            }
        }
    }
}

fn ratio(num: &Stat, den: &Stat) -> f64 {
    num.median() / den.median()
}

// ---------------------------------------------------------------------------------------------
// The sections
// ---------------------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn scaled(n: u64) -> u64 {
    let scale: f64 = std::env::var("COMPARE_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale) as u64).max(10)
}

/// Whether `COMPARE_ONLY` (a comma-separated list of `a`, `a'`, `b`, `c`, `j`, `z`; for profiling one
/// variant) lets `name` run; all run when it is unset.
fn variant(name: &str) -> bool {
    match std::env::var("COMPARE_ONLY") {
        Ok(only) => only.split(',').any(|v| v.trim() == name),
        Err(_) => true,
    }
}

fn drops(runs: &[Run]) -> String {
    let lost: u64 = runs.iter().map(|r| r.sent - r.received).sum();
    if lost == 0 {
        String::new()
    } else {
        format!(
            "; DROPPED {lost} of {}",
            runs.iter().map(|r| r.sent).sum::<u64>()
        )
    }
}

/// Sections 1 and 2: ~100-byte messages, (a), (a′), (b), (c).
fn throughput(rt: &tokio::runtime::Runtime, table: &mut Table, pubsub: bool) {
    let n = scaled(300_000);
    let pad = pad(SMALL_PAD);
    let frame = encode_frame("era", &EraOut::new("modern", n, &pad));
    let (label, section) = if pubsub {
        (
            format!("1. PUB→SUB {} B frames, {n} msgs", frame.len()),
            "pubsub",
        )
    } else {
        (
            format!("2. PUSH→PULL {} B frames, {n} msgs", frame.len() - 4),
            "pushpull",
        )
    };
    eprintln!("[{section}] {label}");
    let mut runs: [Vec<Run>; 4] = Default::default();
    for rep in 0..REPS {
        if variant("a") {
            runs[0].push(raw_throughput(pubsub, false, n, &pad));
        }
        if variant("a'") {
            runs[1].push(raw_throughput(pubsub, true, n, &pad));
        }
        if variant("b") {
            runs[2].push(rt.block_on(if pubsub {
                futures::future::Either::Left(tmq_pubsub(n, Arc::clone(&pad)))
            } else {
                futures::future::Either::Right(tmq_pushpull(n, Arc::clone(&pad)))
            }));
        }
        if variant("c") {
            runs[3].push(rt.block_on(if pubsub {
                futures::future::Either::Left(service_pubsub(n, Arc::clone(&pad)))
            } else {
                futures::future::Either::Right(service_pushpull(n, Arc::clone(&pad)))
            }));
        }
        let rate = |r: &Vec<Run>| r.last().map(Run::per_second).unwrap_or(f64::NAN);
        eprintln!(
            "  rep {rep}: a {:.0}/s  a' {:.0}/s  b {:.0}/s  c {:.0}/s",
            rate(&runs[0]),
            rate(&runs[1]),
            rate(&runs[2]),
            rate(&runs[3])
        );
    }
    let stats: Vec<Stat> = runs
        .iter()
        .map(|r| Stat(r.iter().map(Run::per_second).collect()))
        .collect();
    let (a, a_json, b, c) = (&stats[0], &stats[1], &stats[2], &stats[3]);
    let unit = Unit::PerSecond;
    table.add(&label, "(a) raw libzmq, bytes", a, unit, drops(&runs[0]));
    table.add(
        &label,
        "(a′) raw libzmq + serde_json",
        a_json,
        unit,
        format!("a′/a {:.2}{}", ratio(a_json, a), drops(&runs[1])),
    );
    table.add(
        &label,
        "(b) tokio + tmq + serde_json",
        b,
        unit,
        format!("b/a {:.2}{}", ratio(b, a), drops(&runs[2])),
    );
    let ca = ratio(c, a);
    let caj = ratio(c, a_json);
    let cb = ratio(c, b);
    let t1 = table.target(format!("{section} c ≥ 0.9×a′ ({caj:.2})"), caj >= 0.9);
    let t2 = table.target(format!("{section} c ≥ b ({cb:.2})"), cb >= 1.0);
    table.add(
        &label,
        "(c) #[service] → #[service]",
        c,
        unit,
        format!(
            "c/a {ca:.2}, c/a′ {caj:.2}, c/b {cb:.2}; {t1}; {t2}{}",
            drops(&runs[3])
        ),
    );
}

/// serde_json alone, on one thread: encodes an [`EraOut`] with `pad` into a reused buffer
/// and decodes it into an [`EraChanged`], `n` times; MB/s of frames. This is the work (a′)
/// adds to (a); a service encodes long strings with its own escaping, which is faster.
fn serde_only(n: u64, pad: &str) -> f64 {
    let mut buf = Vec::new();
    let t0 = Instant::now();
    for seq in 0..n {
        buf.clear();
        buf.extend_from_slice(b"era ");
        serde_json::to_writer(&mut buf, &EraOut::new("modern", seq, pad)).expect("encode");
        let m: EraChanged = serde_json::from_slice(&buf[4..]).expect("decode");
        black_box(m);
    }
    (n * buf.len() as u64) as f64 / t0.elapsed().as_secs_f64() / 1e6
}

/// Section 3: 64 KiB and 1 MiB PUB→SUB, MB/s.
fn large(rt: &tokio::runtime::Runtime, table: &mut Table) {
    for (size, n, name) in [
        (64 * 1024, scaled(4000), "64 KiB"),
        (1024 * 1024, scaled(250), "1 MiB"),
    ] {
        let pad = pad(size);
        let frame_len = encode_frame("era", &EraOut::new("modern", n, &pad)).len() as f64;
        let label = format!("3. PUB→SUB {name} frames, {n} msgs");
        eprintln!("[large] {label}");
        let mut runs: [Vec<Run>; 3] = Default::default();
        let mut json_alone = Stat::default();
        for rep in 0..REPS {
            if variant("j") {
                json_alone.push(serde_only(n, &pad));
            }
            if variant("a") {
                runs[0].push(raw_throughput(true, false, n, &pad));
            }
            if variant("a'") {
                runs[1].push(raw_throughput(true, true, n, &pad));
            }
            if variant("c") {
                runs[2].push(rt.block_on(service_pubsub(n, Arc::clone(&pad))));
            }
            let rate = |r: &Vec<Run>| r.last().map(Run::per_second).unwrap_or(f64::NAN);
            eprintln!(
                "  rep {rep}: a {:.0} MB/s  a' {:.0} MB/s  c {:.0} MB/s",
                rate(&runs[0]) * frame_len / 1e6,
                rate(&runs[1]) * frame_len / 1e6,
                rate(&runs[2]) * frame_len / 1e6,
            );
        }
        let stats: Vec<Stat> = runs
            .iter()
            .map(|r| Stat(r.iter().map(|r| r.per_second() * frame_len / 1e6).collect()))
            .collect();
        let (a, a_json, c) = (&stats[0], &stats[1], &stats[2]);
        let unit = Unit::MegabytesPerSecond;
        table.add(&label, "(a) raw libzmq, bytes", a, unit, drops(&runs[0]));
        table.add(
            &label,
            "(a′) raw libzmq + serde_json",
            a_json,
            unit,
            format!("a′/a {:.2}{}", ratio(a_json, a), drops(&runs[1])),
        );
        table.add(
            &label,
            "(j) serde_json encode + decode alone, 1 thread",
            &json_alone,
            unit,
            "the JSON work a′ adds to a (c escapes long strings faster)".to_owned(),
        );
        let ca = ratio(c, a);
        let caj = ratio(c, a_json);
        let t = table.target(format!("{name} c ≥ a′ ({caj:.2})"), caj >= 1.0);
        table.add(
            &label,
            "(c) #[service] → #[service]",
            c,
            unit,
            format!("c/a {ca:.2}, c/a′ {caj:.2}; {t}{}", drops(&runs[2])),
        );
    }
}

/// Section 3b: a 1 MiB string message received into a type that borrows its strings from
/// the frame, against the owned path and raw libzmq doing the same.
fn borrowed(rt: &tokio::runtime::Runtime, table: &mut Table) {
    let n = scaled(250);
    let pad = pad(1024 * 1024);
    let frame_len = encode_frame("era", &EraOut::new("modern", n, &pad)).len() as f64;
    let label = format!("3b. PUB→SUB 1 MiB string, {n} msgs, into a borrowing type");
    eprintln!("[borrowed] {label}");
    let mut runs: [Vec<Run>; 4] = Default::default();
    for rep in 0..REPS {
        if variant("a'") {
            runs[0].push(raw_throughput_into(true, Decode::Owned, n, &pad));
            runs[1].push(raw_throughput_into(true, Decode::Borrowed, n, &pad));
        }
        if variant("c") {
            runs[2].push(rt.block_on(service_pubsub_on("era", n, Arc::clone(&pad))));
            runs[3].push(rt.block_on(service_pubsub_on("erb", n, Arc::clone(&pad))));
        }
        let rate = |r: &Vec<Run>| r.last().map(Run::per_second).unwrap_or(f64::NAN) * frame_len;
        eprintln!(
            "  rep {rep}: a' owned {:.0} MB/s  a' borrowed {:.0} MB/s  c owned {:.0} MB/s  c borrowed {:.0} MB/s",
            rate(&runs[0]) / 1e6,
            rate(&runs[1]) / 1e6,
            rate(&runs[2]) / 1e6,
            rate(&runs[3]) / 1e6,
        );
    }
    let stats: Vec<Stat> = runs
        .iter()
        .map(|r| Stat(r.iter().map(|r| r.per_second() * frame_len / 1e6).collect()))
        .collect();
    let unit = Unit::MegabytesPerSecond;
    table.add(
        &label,
        "(a′) raw libzmq + serde_json, owned `String`s",
        &stats[0],
        unit,
        drops(&runs[0]),
    );
    table.add(
        &label,
        "(a″) raw libzmq + serde_json, borrowed `&str`s",
        &stats[1],
        unit,
        format!(
            "a″/a′ {:.2}{}",
            ratio(&stats[1], &stats[0]),
            drops(&runs[1])
        ),
    );
    table.add(
        &label,
        "(c) #[service], handler takes owned `String`s",
        &stats[2],
        unit,
        format!("c/a′ {:.2}{}", ratio(&stats[2], &stats[0]), drops(&runs[2])),
    );
    table.add(
        &label,
        "(c″) #[service], handler takes `EraBorrowed<'_>`",
        &stats[3],
        unit,
        format!(
            "c″/a′ {:.2}, c″/a″ {:.2}, c″/c {:.2}{}",
            ratio(&stats[3], &stats[0]),
            ratio(&stats[3], &stats[1]),
            ratio(&stats[3], &stats[2]),
            drops(&runs[3])
        ),
    );
}

/// Section 5: idle services, one fresh child process per repetition.
fn idle(table: &mut Table) {
    let reps = 3;
    eprintln!("[idle] {reps} child processes at once, then {reps} without ZMTP heartbeats");
    // Each child measures only itself (its own RSS and getrusage), so they can run side by
    // side; the ones with ZMTP heartbeats first, so the two kinds never overlap.
    let full: Vec<Vec<f64>> = (0..reps)
        .map(|_| spawn_idle(true))
        .collect::<Vec<_>>()
        .into_iter()
        .map(idle_figures)
        .collect();
    let bare: Vec<Vec<f64>> = (0..reps)
        .map(|_| spawn_idle(false))
        .collect::<Vec<_>>()
        .into_iter()
        .map(idle_figures)
        .collect();
    let mut stats: [Stat; 7] = Default::default();
    for (rep, (full, bare)) in full.iter().zip(&bare).enumerate() {
        eprintln!(
            "  rep {rep}: one {:.2} MiB ({:.2} anonymous), hundred {:.2} MiB ({:.2} anonymous), cpu one {:.3} %, hundred {:.3} %, hundred without ZMTP heartbeats {:.3} %",
            full[0] / 1048576.0,
            full[4] / 1048576.0,
            full[1] / 1048576.0,
            full[5] / 1048576.0,
            full[2],
            full[3],
            bare[0],
        );
        for (s, v) in stats.iter_mut().zip(full.iter().chain(bare)) {
            s.push(*v);
        }
    }
    let rss = "9. idle (pub bound + sub connected), RSS delta";
    let one = stats[0].median();
    let t = table.target(
        format!("one idle service ≤ 8 MiB ({:.2} MiB)", one / 1048576.0),
        one <= 8.0 * 1048576.0,
    );
    table.add(rss, "one service", &stats[0], Unit::Mebibytes, t);
    table.add(
        rss,
        "100 services",
        &stats[1],
        Unit::Mebibytes,
        format!(
            "{:.2} MiB per service",
            stats[1].median() / 100.0 / 1048576.0
        ),
    );
    // The first service also reads in code and library pages that every later one shares:
    // the anonymous part (heap, stacks) is each service's own memory.
    let anon = "9. idle, anonymous part of the RSS delta (heap and stacks)";
    table.add(
        anon,
        "one service",
        &stats[4],
        Unit::Mebibytes,
        String::new(),
    );
    table.add(
        anon,
        "100 services",
        &stats[5],
        Unit::Mebibytes,
        format!(
            "{:.2} MiB per service",
            stats[5].median() / 100.0 / 1048576.0
        ),
    );
    let cpu_label = "9. idle CPU (heartbeats on), % of one core";
    table.add(
        cpu_label,
        "one service, 3 s window",
        &stats[2],
        Unit::Percent,
        String::new(),
    );
    let cpu = stats[3].median();
    let t = table.target(
        format!("100 idle services ≤ 1 % of a core ({cpu:.3} %)"),
        cpu <= 1.0,
    );
    table.add(
        cpu_label,
        "100 services, 8 s window (default ZMTP heartbeat, 5 s)",
        &stats[3],
        Unit::Percent,
        t,
    );
    table.add(
        cpu_label,
        "100 services, 8 s window, zmtp_heartbeat off",
        &stats[6],
        Unit::Percent,
        "the rest is libzmq's ZMTP PING/PONG over TCP".to_owned(),
    );
}

/// Section 6: `Runner::start` → the first heartbeat on the wire.
fn startup(rt: &tokio::runtime::Runtime, table: &mut Table) {
    eprintln!("[startup]");
    let mut stat = Stat::default();
    let mut lost = 0;
    for rep in 0..STARTUP_REPS {
        let d = rt.block_on(first_heartbeat());
        eprintln!("  rep {rep}: {:.2} ms", d.as_secs_f64() * 1e3);
        if d > Duration::from_secs(1) {
            lost += 1;
        }
        stat.push(d.as_nanos() as f64);
    }
    let note = if lost == 0 {
        "every time: the one at start, or the one sent once the subscription arrived".to_owned()
    } else {
        format!("{lost} of {STARTUP_REPS} took over a second")
    };
    table.add(
        "10. Runner::start → first heartbeat received by a raw SUB",
        "(c) service, PUB connects to the SUB",
        &stat,
        Unit::Millis,
        note,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--idle-child") {
        idle_child(!args.iter().any(|a| a == "--no-zmtp"));
        return;
    }
    if scale::child(&args) || roundtrip::child(&args) {
        return;
    }
    const SECTIONS: [&str; 11] = [
        "pubsub", "pushpull", "large", "borrowed", "rtt", "fanin", "fanout", "many", "images",
        "idle", "startup",
    ];
    let chosen: Vec<&str> = SECTIONS
        .iter()
        .copied()
        .filter(|s| args.iter().any(|a| a == s))
        .collect();
    let run = |s: &str| chosen.is_empty() || chosen.contains(&s);
    if std::env::var_os("COMPARE_LOG").is_some() {
        experimance::init_logging();
    }
    let started = Instant::now();
    let rt = runtime();
    let mut table = Table::default();
    if run("pubsub") {
        throughput(&rt, &mut table, true);
    }
    if run("pushpull") {
        throughput(&rt, &mut table, false);
    }
    if run("large") {
        large(&rt, &mut table);
    }
    if run("borrowed") {
        borrowed(&rt, &mut table);
    }
    if run("rtt") {
        roundtrip::rtt(&rt, &mut table);
    }
    if run("fanin") {
        scale::fan_in(&mut table);
    }
    if run("fanout") {
        scale::fan_out(&mut table);
    }
    if run("many") {
        scale::many(&rt, &mut table);
    }
    if run("images") {
        images::images(&rt, &mut table);
    }
    if run("idle") {
        idle(&mut table);
    }
    if run("startup") {
        startup(&rt, &mut table);
    }
    table.print();
    println!();
    println!(
        "{} repetitions per figure ({} for start-up, 3 for idle), one process (idle: fresh child \
         processes), {} cores, tokio multi-thread runtime with 2 workers; total {:.0} s",
        REPS,
        STARTUP_REPS,
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
}
