//! Sections `fanin`, `fanout` and `many`: several processes, and many services in one.
//!
//! - `fanin`: 8 publishers → 1 subscriber, each in its own process (this binary with
//!   `--scale-child`); the subscriber binds, the publishers connect. Figure: messages per
//!   second received by the subscriber.
//! - `fanout`: 1 publisher → 16 subscribers, each in its own process; the publisher binds.
//!   Figure: messages per second received by all subscribers together (each gets all N).
//! - `many`: 64 publisher/subscriber pairs in this one process, all sending at once. Figure:
//!   messages per second received by all subscribers together.
//!
//! Each compares (a′) raw libzmq (the `zmq` crate, blocking, a thread per socket, each
//! socket with its own context as a service has) with `serde_json` on both ends (every
//! ~100-byte [`EraOut`] encoded, every frame decoded into [`EraChanged`]) against (c)
//! `#[service]` publishers (`ctx.publish_to`) and `#[service]` subscribers with a typed
//! handler. HWM is unlimited on every PUB/SUB socket. Publishers send `warm` messages that
//! carry their index until every subscriber has seen one from each of them; then a start
//! signal (`go` on the children's stdin, or a flag in `many`) starts the timed part, which
//! ends with the last message received. A subscriber that sees nothing new for [`STALL`]
//! after the start reports what it has (drops). A child process exits when its stdin closes
//! (the parent is done with it, or gone) or after [`CHILD_DEADLINE`]; the parent kills and
//! waits for its children on every path (`Kids` is dropped, panics included).

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Role, Runner};
use tokio::sync::oneshot;

use super::{
    bind_any, drops, encode_frame, finish, pad, ratio, raw_socket, runtime, scaled, split, variant,
    EraChanged, EraOut, Job, Publisher, Run, Stat, Subscriber, Table, Tally, Unit, ANY, REPS,
    SMALL_PAD, STALL,
};

/// The first argument of a child process of these sections.
const CHILD_FLAG: &str = "--scale-child";
/// Repetitions of the process sections (17 processes a repetition for `fanout`).
const PROCESS_REPS: usize = 5;
/// A child process that is still running after this long exits anyway.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);
/// How long the start (processes up, sockets connected, `warm` seen) may take.
const SYNC_WITHIN: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Child processes: `--scale-child <pub|sub> <raw|svc> <bind|endpoint> <index|publishers> <n>`
// ---------------------------------------------------------------------------------------------
//
// A publisher sends `warm` (with its index) until it reads `go` on stdin, then `n` messages.
// A subscriber expects `publishers × n` messages; it prints `SYNCED` once it has seen a `warm`
// from each publisher, and `DONE <received> <ns since the last one>` when all arrived or it
// stalled. The side that binds prints `ENDPOINT <endpoint>` first.

/// Handles this binary's child-process modes of these sections; `false` if `args` ask for none.
pub(crate) fn child(args: &[String]) -> bool {
    let Some(at) = args.iter().position(|a| a == CHILD_FLAG) else {
        return false;
    };
    let [role, kind, address, number, n] = &args[at + 1..] else {
        panic!("{CHILD_FLAG} <pub|sub> <raw|svc> <bind|endpoint> <index|publishers> <n>");
    };
    let number: u64 = number.parse().expect("index or publishers");
    let n: u64 = n.parse().expect("n");
    let bind = address == "bind";
    let go = watch_parent();
    match (role.as_str(), kind.as_str()) {
        ("pub", "raw") => {
            let publisher = raw_socket(&zmq::Context::new(), zmq::PUB, Some(0));
            attach_raw(&publisher, bind, address);
            raw_blast(&publisher, number, &go, n, &pad(SMALL_PAD));
            hold(publisher)
        }
        ("sub", "raw") => {
            let subscriber = raw_subscriber(&zmq::Context::new());
            attach_raw(&subscriber, bind, address);
            let total = number * n;
            let (last, got) = raw_receive(&subscriber, number, total, &go, || say("SYNCED"));
            let ago = last.map_or(STALL, |t| t.elapsed());
            say(&format!("DONE {got} {}", ago.as_nanos()));
            hold(subscriber)
        }
        // These two keep their service running.
        ("pub", "svc") => runtime().block_on(service_publisher(bind, address, number, n, go)),
        ("sub", "svc") => runtime().block_on(service_subscriber(bind, address, number, n, go)),
        _ => panic!("unknown child {role} {kind}"),
    }
    hold(())
}

/// Keeps `open` (sockets: closed, with linger 0, they would drop what is still queued) until
/// the end of stdin ends the process (see [`watch_parent`]).
fn hold<T>(open: T) -> ! {
    loop {
        black_box(&open);
        thread::park();
    }
}

/// One line to the parent.
fn say(line: &str) {
    println!("{line}");
}

/// Watches stdin: `go` sets the returned flag; the end of stdin (the parent is done or gone)
/// ends the process, as does [`CHILD_DEADLINE`].
fn watch_parent() -> Arc<AtomicBool> {
    let go = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&go);
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l == "go" => flag.store(true, Ordering::Release),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
    thread::spawn(|| {
        thread::sleep(CHILD_DEADLINE);
        eprintln!("{CHILD_FLAG}: still running after {CHILD_DEADLINE:?}; exiting");
        std::process::exit(2);
    });
    go
}

/// Binds (and tells the parent where) or connects.
fn attach_raw(socket: &zmq::Socket, bind: bool, address: &str) {
    if bind {
        say(&format!("ENDPOINT {}", bind_any(socket)));
    } else {
        socket.connect(address).expect("connect");
    }
}

/// A raw SUB for `era` and `warm`, HWM unlimited, that wakes up every 250 ms.
fn raw_subscriber(ctx: &zmq::Context) -> zmq::Socket {
    let s = raw_socket(ctx, zmq::SUB, Some(0));
    s.set_rcvtimeo(250).expect("rcvtimeo");
    s.set_subscribe(b"era").expect("subscribe");
    s.set_subscribe(b"warm").expect("subscribe");
    s
}

/// Sends `warm` with `index` every millisecond until `go`, then `n` messages, each encoded
/// with serde_json (a′).
fn raw_blast(publisher: &zmq::Socket, index: u64, go: &AtomicBool, n: u64, pad: &str) {
    let warm = encode_frame("warm", &EraOut::new("warm", index, ""));
    while !go.load(Ordering::Acquire) {
        publisher.send(&warm[..], 0).expect("send");
        thread::sleep(Duration::from_millis(1));
    }
    let mut buf = Vec::with_capacity(pad.len() + 96);
    for seq in 0..n {
        buf.clear();
        buf.extend_from_slice(b"era ");
        serde_json::to_writer(&mut buf, &EraOut::new("modern", seq, pad)).expect("encode");
        publisher.send(&buf[..], 0).expect("send");
    }
}

/// Receives until `total` messages, each decoded into [`EraChanged`], arrived, or nothing new
/// came for [`STALL`] after `go`; calls `synced` once a `warm` from each of `publishers` came.
/// Returns the instant of the last message and how many arrived.
fn raw_receive(
    subscriber: &zmq::Socket,
    publishers: u64,
    total: u64,
    go: &AtomicBool,
    synced: impl FnOnce(),
) -> (Option<Instant>, u64) {
    let mut synced = Some(synced);
    let mut warmed = vec![false; publishers as usize];
    let mut msg = zmq::Message::new();
    let (mut got, mut last, mut started) = (0u64, None::<Instant>, None::<Instant>);
    while got < total {
        match subscriber.recv(&mut msg, 0) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => {
                if go.load(Ordering::Acquire) {
                    let since = last.unwrap_or(*started.get_or_insert_with(Instant::now));
                    if since.elapsed() > STALL {
                        break;
                    }
                }
                continue;
            }
            Err(e) => panic!("recv: {e}"),
        }
        let (topic, payload) = split(&msg);
        if topic == b"warm" {
            if synced.is_some() {
                let m: EraChanged = serde_json::from_slice(payload).expect("decode");
                warmed[m.seq as usize] = true;
                if warmed.iter().all(|&w| w) {
                    synced.take().expect("once")();
                }
            }
            continue;
        }
        let m: EraChanged = serde_json::from_slice(payload).expect("decode");
        black_box(&m);
        got += 1;
        last = Some(Instant::now());
    }
    (last, got)
}

/// The address of a service's socket: bound on a system-chosen port, or connected.
fn service_address(bind: bool, address: &str) -> String {
    if bind {
        format!("@{ANY}")
    } else {
        format!(">{address}")
    }
}

/// A publisher whose `warm` messages carry its index, so that a subscriber of several can
/// tell when it has heard from all of them.
#[service(pub = "tcp://127.0.0.1:*")]
struct FanPublisher {
    index: u64,
    job: Option<Job>,
}

#[handlers]
impl FanPublisher {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        if let Some(job) = self.job.take() {
            let (ctx2, index) = (ctx.clone(), self.index);
            ctx.spawn("blast", async move { super::blast(ctx2, index, job).await });
        }
    }
}

/// A subscriber of several publishers: synced once each one's `warm` came.
#[service(sub = "tcp://127.0.0.1:1", topics = ["era", "warm"])]
struct FanSubscriber {
    tally: Tally,
    warmed: Vec<bool>,
}

#[handlers]
impl FanSubscriber {
    #[topic("warm")]
    async fn on_warm(&mut self, msg: EraChanged) {
        if let Some(w) = self.warmed.get_mut(msg.seq as usize) {
            *w = true;
        }
        if self.warmed.iter().all(|&w| w) {
            self.tally.synced.store(true, Ordering::Release);
        }
    }

    #[topic("era")]
    async fn on_era(&mut self, msg: EraChanged) {
        self.tally.take(msg.seq);
    }
}

async fn service_publisher(bind: bool, address: &str, index: u64, n: u64, go: Arc<AtomicBool>) {
    let job = Job {
        topic: "era",
        n,
        pad: pad(SMALL_PAD),
        synced: go,
        started: oneshot::channel().0,
    };
    let publisher = Runner::new(FanPublisher {
        index,
        job: Some(job),
    })
    .with_address(Role::Pub, service_address(bind, address))
    .with_hwm(Role::Pub, 0);
    publisher.start().await.expect("start publisher");
    if bind {
        say(&format!(
            "ENDPOINT {}",
            publisher.endpoint(Role::Pub).expect("endpoint")
        ));
    }
    // Runs until the parent lets go.
    std::future::pending::<()>().await;
}

async fn service_subscriber(
    bind: bool,
    address: &str,
    publishers: u64,
    n: u64,
    go: Arc<AtomicBool>,
) {
    let synced = Arc::new(AtomicBool::new(false));
    let (tally, got, done) = Tally::new(publishers * n, Arc::clone(&synced));
    let subscriber = Runner::new(FanSubscriber {
        tally,
        warmed: vec![false; publishers as usize],
    })
    .with_address(Role::Sub, service_address(bind, address))
    .with_hwm(Role::Sub, 0);
    subscriber.start().await.expect("start subscriber");
    if bind {
        say(&format!(
            "ENDPOINT {}",
            subscriber.endpoint(Role::Sub).expect("endpoint")
        ));
    }
    all_set(&[synced]).await;
    say("SYNCED");
    all_set(&[go]).await;
    let t0 = Instant::now();
    let run = finish(
        async { done.await.expect("subscriber ran") },
        &got,
        t0,
        publishers * n,
    )
    .await;
    let ago = (t0 + run.elapsed).elapsed();
    say(&format!("DONE {} {}", run.received, ago.as_nanos()));
    std::future::pending::<()>().await;
}

/// Waits until every flag is set (within [`SYNC_WITHIN`]).
async fn all_set(flags: &[Arc<AtomicBool>]) {
    let t0 = Instant::now();
    while !flags.iter().all(|f| f.load(Ordering::Acquire)) {
        assert!(
            t0.elapsed() < SYNC_WITHIN,
            "not synchronised within {SYNC_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The parent's side
// ---------------------------------------------------------------------------------------------

/// What a child printed (`None`: its stdout closed), and when the parent read it.
type Said = (usize, Option<String>, Instant);

/// The child processes of one repetition. Dropped (on every path, panics included), it closes
/// their stdin, kills them and waits for them.
struct Kids {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    said: mpsc::Receiver<Said>,
    tell: mpsc::Sender<Said>,
}

impl Kids {
    fn new() -> Kids {
        let (tell, said) = mpsc::channel();
        Kids {
            children: Vec::new(),
            stdins: Vec::new(),
            said,
            tell,
        }
    }

    /// Starts `--scale-child args…`; its index.
    fn spawn(&mut self, args: &[&str]) -> usize {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .arg(CHILD_FLAG)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start child");
        let i = self.children.len();
        self.stdins.push(child.stdin.take().expect("stdin"));
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        self.children.push(child);
        let tell = self.tell.clone();
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tell.send((i, Some(line), Instant::now())).is_err() {
                    return;
                }
            }
            let _ = tell.send((i, None, Instant::now()));
        });
        i
    }

    /// Writes `line` to each of `who`.
    fn tell(&mut self, who: &[usize], line: &str) {
        for &i in who {
            writeln!(self.stdins[i], "{line}").expect("write to child");
        }
    }

    /// Waits for `word` from each of `who`; what followed it and when, in the order of `who`.
    fn expect(&self, who: &[usize], word: &str, within: Duration) -> Vec<(String, Instant)> {
        let deadline = Instant::now() + within;
        let mut out: Vec<Option<(String, Instant)>> = vec![None; who.len()];
        while out.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let (i, line, at) = self
                .said
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("children did not say {word} within {within:?}"));
            let line = line.unwrap_or_else(|| panic!("child {i} exited before saying {word}"));
            let rest = line.strip_prefix(word).map(str::trim);
            match (who.iter().position(|&w| w == i), rest) {
                (Some(k), Some(rest)) if out[k].is_none() => out[k] = Some((rest.to_owned(), at)),
                _ => panic!("child {i} said {line:?}, expected {word}"),
            }
        }
        out.into_iter().map(|o| o.expect("all")).collect()
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        self.stdins.clear();
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One repetition: `publishers` → `subscribers` (one of them 1, the side that binds), each
/// in its own process, `n` messages from each publisher; `kind` is `raw` or `svc`.
fn fan_run(kind: &str, publishers: u64, subscribers: u64, n: u64) -> Run {
    assert!(publishers == 1 || subscribers == 1);
    let mut kids = Kids::new();
    let (ns, ps) = (n.to_string(), publishers.to_string());
    let (pubs, subs) = if subscribers == 1 {
        let sub = kids.spawn(&["sub", kind, "bind", &ps, &ns]);
        let (endpoint, _) = kids.expect(&[sub], "ENDPOINT", SYNC_WITHIN).remove(0);
        let pubs = (0..publishers)
            .map(|i| kids.spawn(&["pub", kind, &endpoint, &i.to_string(), &ns]))
            .collect();
        (pubs, vec![sub])
    } else {
        let publisher = kids.spawn(&["pub", kind, "bind", "0", &ns]);
        let (endpoint, _) = kids.expect(&[publisher], "ENDPOINT", SYNC_WITHIN).remove(0);
        let subs = (0..subscribers)
            .map(|_| kids.spawn(&["sub", kind, &endpoint, "1", &ns]))
            .collect();
        (vec![publisher], subs)
    };
    kids.expect(&subs, "SYNCED", SYNC_WITHIN);
    let t0 = Instant::now();
    kids.tell(&pubs, "go");
    kids.tell(&subs, "go");
    let mut received = 0;
    let mut t1 = t0;
    for (rest, at) in kids.expect(&subs, "DONE", CHILD_DEADLINE) {
        let (got, ago) = rest.split_once(' ').expect("DONE <received> <ns>");
        received += got.parse::<u64>().expect("received");
        let ago = Duration::from_nanos(ago.parse().expect("ns"));
        t1 = t1.max(at.checked_sub(ago).unwrap_or(t0));
    }
    Run {
        elapsed: t1 - t0,
        sent: publishers * subscribers * n,
        received,
    }
}

/// The two rows of a section and its target: c ≥ 0.8×(a′).
fn report(table: &mut Table, section: &str, label: &str, runs: &[Vec<Run>; 2], rows: [&str; 2]) {
    let stats: Vec<Stat> = runs
        .iter()
        .map(|r| Stat(r.iter().map(Run::per_second).collect()))
        .collect();
    let (raw, c) = (&stats[0], &stats[1]);
    let unit = Unit::PerSecond;
    table.add(label, rows[0], raw, unit, drops(&runs[0]));
    let r = ratio(c, raw);
    let t = table.target(format!("{section} c ≥ 0.8×raw ({r:.2})"), r >= 0.8);
    table.add(
        label,
        rows[1],
        c,
        unit,
        format!("c/a′ {r:.2}; {t}{}", drops(&runs[1])),
    );
}

fn rep_line(rep: usize, runs: &[Vec<Run>; 2]) {
    let rate = |r: &Vec<Run>| match r.last() {
        Some(run) if run.received < run.sent => format!(
            "{:.0}/s (DROPPED {} of {})",
            run.per_second(),
            run.sent - run.received,
            run.sent
        ),
        Some(run) => format!("{:.0}/s", run.per_second()),
        None => "-".to_owned(),
    };
    eprintln!("  rep {rep}: a' {}  c {}", rate(&runs[0]), rate(&runs[1]));
}

/// A section of child processes: `publishers` → `subscribers`.
fn fan(table: &mut Table, section: &str, label: String, publishers: u64, subscribers: u64, n: u64) {
    eprintln!("[{section}] {label}");
    let mut runs: [Vec<Run>; 2] = Default::default();
    for rep in 0..PROCESS_REPS {
        if variant("a'") {
            runs[0].push(fan_run("raw", publishers, subscribers, n));
        }
        if variant("c") {
            runs[1].push(fan_run("svc", publishers, subscribers, n));
        }
        rep_line(rep, &runs);
    }
    let rows = [
        "(a′) raw libzmq + serde_json",
        "(c) #[service] → #[service]",
    ];
    report(table, section, &label, &runs, rows);
}

/// 8 publishers → 1 subscriber, each in its own process.
pub(crate) fn fan_in(table: &mut Table) {
    let n = scaled(150_000);
    let label = format!(
        "5. fan-in PUB→SUB, 8 publisher processes → 1 subscriber process, {n} msgs each, \
         {PROCESS_REPS} reps"
    );
    fan(table, "fanin", label, 8, 1, n);
}

/// 1 publisher → 16 subscribers, each in its own process.
pub(crate) fn fan_out(table: &mut Table) {
    let n = scaled(100_000);
    let label = format!(
        "6. fan-out PUB→SUB, 1 publisher process → 16 subscriber processes, {n} msgs each, \
         {PROCESS_REPS} reps"
    );
    fan(table, "fanout", label, 1, 16, n);
}

// ---------------------------------------------------------------------------------------------
// Many pairs in one process
// ---------------------------------------------------------------------------------------------

/// `pairs` raw PUB→SUB pairs, a thread per socket, all sending at once after all synced.
fn raw_many(pairs: usize, n: u64, pad: &Arc<String>) -> Run {
    let go = Arc::new(AtomicBool::new(false));
    let mut synced = Vec::new();
    let mut receiving = Vec::new();
    let mut sending = Vec::new();
    for _ in 0..pairs {
        let publisher = raw_socket(&zmq::Context::new(), zmq::PUB, Some(0));
        let endpoint = bind_any(&publisher);
        let subscriber = raw_subscriber(&zmq::Context::new());
        subscriber.connect(&endpoint).expect("connect");
        let flag = Arc::new(AtomicBool::new(false));
        synced.push(Arc::clone(&flag));
        let go2 = Arc::clone(&go);
        receiving.push(thread::spawn(move || {
            let synced = || flag.store(true, Ordering::Release);
            raw_receive(&subscriber, 1, n, &go2, synced)
        }));
        let (go2, pad) = (Arc::clone(&go), Arc::clone(pad));
        sending.push(thread::spawn(move || {
            raw_blast(&publisher, 0, &go2, n, &pad);
            // Closed only once the subscribers are done (linger 0 drops what is queued).
            publisher
        }));
    }
    let t = Instant::now();
    while !synced.iter().all(|f| f.load(Ordering::Acquire)) {
        assert!(
            t.elapsed() < SYNC_WITHIN,
            "not synchronised within {SYNC_WITHIN:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    let t0 = Instant::now();
    go.store(true, Ordering::Release);
    let mut run = Run {
        elapsed: Duration::ZERO,
        sent: pairs as u64 * n,
        received: 0,
    };
    for r in receiving {
        let (last, got) = r.join().expect("receiver thread");
        run.received += got;
        run.elapsed = run.elapsed.max(last.map_or(Duration::ZERO, |t| t - t0));
    }
    for s in sending {
        drop(s.join().expect("sender thread"));
    }
    run
}

/// `pairs` service pairs ([`Publisher`] → [`Subscriber`]), all sending at once after all
/// synced.
async fn service_many(pairs: usize, n: u64, pad: &Arc<String>) -> Run {
    let go = Arc::new(AtomicBool::new(false));
    let (mut publishers, mut subscribers) = (Vec::new(), Vec::new());
    let (mut synced, mut gots, mut dones) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs {
        let job = Job {
            topic: "era",
            n,
            pad: Arc::clone(pad),
            synced: Arc::clone(&go),
            started: oneshot::channel().0,
        };
        let publisher = Runner::new(Publisher { job: Some(job) })
            .with_name(format!("Publisher{i}"))
            .with_address(Role::Pub, ANY)
            .with_hwm(Role::Pub, 0);
        publisher.start().await.expect("start publisher");
        let endpoint = publisher.endpoint(Role::Pub).expect("endpoint");
        let flag = Arc::new(AtomicBool::new(false));
        let (tally, got, done) = Tally::new(n, Arc::clone(&flag));
        let subscriber = Runner::new(Subscriber { tally })
            .with_name(format!("Subscriber{i}"))
            .with_address(Role::Sub, endpoint)
            .with_hwm(Role::Sub, 0);
        subscriber.start().await.expect("start subscriber");
        publishers.push(publisher);
        subscribers.push(subscriber);
        synced.push(flag);
        gots.push(got);
        dones.push(async move { done.await.expect("subscriber ran") });
    }
    all_set(&synced).await;
    let t0 = Instant::now();
    go.store(true, Ordering::Release);
    // `finish` watches one counter: the sum of the pairs', kept up to date.
    let total = Arc::new(AtomicU64::new(0));
    let summing = tokio::spawn({
        let total = Arc::clone(&total);
        async move {
            loop {
                let sum = gots.iter().map(|g| g.load(Ordering::Relaxed)).sum();
                total.store(sum, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let last = async {
        let all = futures::future::join_all(dones).await;
        all.into_iter().max().expect("pairs")
    };
    let run = finish(last, &total, t0, pairs as u64 * n).await;
    summing.abort();
    // Receivers first: a SUB whose publisher is gone lingers on its queued subscriptions.
    futures::future::join_all(subscribers.iter().map(|s| s.stop())).await;
    futures::future::join_all(publishers.iter().map(|p| p.stop())).await;
    for s in &subscribers {
        let gaps = s.with_service(|s| s.tally.gaps).expect("stopped");
        assert_eq!(gaps, 0, "messages arrived out of order or with gaps");
    }
    run
}

/// 64 pub/sub pairs of services in one process.
pub(crate) fn many(rt: &tokio::runtime::Runtime, table: &mut Table) {
    let pairs = 64;
    let n = scaled(25_000);
    let pad = pad(SMALL_PAD);
    let label = format!("7. {pairs} PUB→SUB pairs in one process, all at once, {n} msgs each");
    eprintln!("[many] {label}");
    let mut runs: [Vec<Run>; 2] = Default::default();
    for rep in 0..REPS {
        if variant("a'") {
            runs[0].push(raw_many(pairs, n, &pad));
        }
        if variant("c") {
            runs[1].push(rt.block_on(service_many(pairs, n, &pad)));
        }
        rep_line(rep, &runs);
    }
    let rows = [
        "(a′) raw libzmq + serde_json, a thread per socket",
        "(c) #[service] pairs, tokio runtime with 2 workers",
    ];
    report(table, "many", &label, &runs, rows);
}
