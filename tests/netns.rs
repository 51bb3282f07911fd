//! Across hosts (issue 4): two services in two network namespaces joined by a veth pair.
//! The link is taken down until the subscriber's heartbeat liveness reports the publisher
//! `lost`, then brought up again: the subscriber must see the publisher `alive` again and
//! receive counter values published after the link came back.
//!
//! Both services are child processes (this test binary re-executed under `ip netns exec`);
//! the subscriber prints what it sees as `EVENT {json}` lines that the parent reads. Every
//! wait ends on such a line; the whole test is bounded by [`LIMIT`].
//!
//! It needs `ip` (iproute2), root or CAP_NET_ADMIN + CAP_SYS_ADMIN, and veth support. Where
//! they are missing it prints `SKIPPED: <reason>` and passes, unless
//! `EXPERIMANCE_REQUIRE_NETNS=1` is set (for CI machines that have the privileges), which
//! turns a skip into a failure. It touches nothing but the two namespaces it creates (named
//! after its pid) and the veth pair inside them; a guard deletes them at the end.

mod liveness_support;

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use experimance::{handlers, service, Context, Liveness, Role, Runner};
use liveness_support::{child_address, child_stdin, is_child, say, spawn_kid, Kid};
use serde::Deserialize;
use serde_json::json;

/// The whole test (setup aside) ends within this.
const LIMIT: Duration = Duration::from_secs(30);

/// Set to `1` to make a skip a failure.
const REQUIRE_ENV: &str = "EXPERIMANCE_REQUIRE_NETNS";

const PUB_TEST: &str = "child_netns_publisher";
const PUB_MODE: &str = "netns-publisher";
const SUB_TEST: &str = "child_netns_subscriber";
const SUB_MODE: &str = "netns-subscriber";

// ---------------------------------------------------------------------------------------------
// The services
// ---------------------------------------------------------------------------------------------

/// Publishes `counter {"type":"Counter","n":n}` every 20 ms and a heartbeat every 100 ms.
/// ZMTP heartbeats every 250 ms: a connection silent for 750 ms is dropped, well before the
/// subscriber's liveness gives up (1.5 s), so the test also covers the reconnection.
#[service(
    name = "NetnsPub",
    pub = "tcp://127.0.0.1:1",
    heartbeat = "peer.heartbeat",
    heartbeat_interval = "100ms",
    zmtp_heartbeat = "250ms",
    stats_interval = "off"
)]
struct NetnsPub {
    n: Arc<AtomicU64>,
}

#[handlers]
impl NetnsPub {
    #[every("20ms")]
    async fn tick(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        let n = self.n.load(Ordering::SeqCst) + 1;
        ctx.publish_to("counter", &json!({ "type": "Counter", "n": n }))
            .await?;
        self.n.store(n, Ordering::SeqCst);
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct Counter {
    n: u64,
}

/// Follows `NetnsPub`: prints every counter and every liveness change as an `EVENT` line.
#[service(
    name = "NetnsWatcher",
    sub = "tcp://127.0.0.1:1",
    watch = ["peer.heartbeat"],
    peer_interval = "500ms",
    zmtp_heartbeat = "250ms",
    stats_interval = "off"
)]
struct NetnsWatcher;

#[handlers]
impl NetnsWatcher {
    #[topic("counter")]
    async fn counter(&mut self, msg: Counter) {
        say("EVENT", json!({ "kind": "counter", "n": msg.n }));
    }

    #[on_peer]
    async fn peer(&mut self, peer: &str, liveness: Liveness) {
        say(
            "EVENT",
            json!({ "kind": "peer", "peer": peer, "liveness": liveness }),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The children
// ---------------------------------------------------------------------------------------------

/// In namespace 1: runs [`NetnsPub`] on the address given, prints `ENDPOINT <endpoint>`,
/// answers `COUNT` with `COUNT <last n published>`. Does nothing as a plain test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_netns_publisher() {
    if !is_child(PUB_MODE) {
        return;
    }
    let mut stdin = child_stdin();
    let n = Arc::new(AtomicU64::new(0));
    let runner =
        Runner::new(NetnsPub { n: Arc::clone(&n) }).with_address(Role::Pub, child_address());
    runner.start().await.expect("child: start the publisher");
    say("ENDPOINT", runner.endpoint(Role::Pub).expect("endpoint"));
    while let Some(line) = stdin.recv().await {
        if line == "COUNT" {
            say("COUNT", n.load(Ordering::SeqCst));
        }
    }
}

/// In namespace 2: runs [`NetnsWatcher`] connected to the address given; answers `STATS`
/// with `STATS <the liveness table as JSON>`. Does nothing as a plain test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_netns_subscriber() {
    if !is_child(SUB_MODE) {
        return;
    }
    let mut stdin = child_stdin();
    let runner = Runner::new(NetnsWatcher).with_address(Role::Sub, child_address());
    runner.start().await.expect("child: start the subscriber");
    while let Some(line) = stdin.recv().await {
        if line == "STATS" {
            let stats = runner.stats();
            say(
                "STATS",
                json!({ "errors": stats.errors, "peers": stats.peers }),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The namespaces
// ---------------------------------------------------------------------------------------------

/// Runs `ip args...`; the error says what failed and what `ip` printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Two network namespaces named after this process, a veth pair between them, and an
/// address of a private /30 on each end. Dropping it deletes the namespaces, which destroys
/// the veth pair with them.
struct Netns {
    /// The namespaces created so far (all of them are deleted on drop).
    created: Vec<String>,
    ns: [String; 2],
    veth: [String; 2],
    addr: [String; 2],
}

impl Netns {
    /// Sets everything up; `Err` is why it cannot be done here (a reason to skip).
    fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        // 10.231.0.0/16, one /30 per pid (namespaces are private anyway).
        let (x, y) = ((pid >> 6) % 256, (pid % 64) * 4);
        let mut net = Netns {
            created: Vec::new(),
            ns: [
                format!("experimance-{pid}-a"),
                format!("experimance-{pid}-b"),
            ],
            veth: [format!("xv{pid}a"), format!("xv{pid}b")],
            addr: [
                format!("10.231.{x}.{}", y + 1),
                format!("10.231.{x}.{}", y + 2),
            ],
        };
        ip(&["-V"])?;
        for ns in net.ns.clone() {
            ip(&["netns", "add", &ns]).map_err(|e| {
                format!("{e} (network namespaces need root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)")
            })?;
            net.created.push(ns.clone());
            ip(&["netns", "exec", &ns, "true"])?;
        }
        let [ns1, ns2] = &net.ns;
        let [v1, v2] = &net.veth;
        // Created inside namespace 1 with its peer moved to namespace 2 at once: the host's
        // namespace never holds either end.
        ip(&[
            "-n", ns1, "link", "add", v1, "type", "veth", "peer", "name", v2, "netns", ns2,
        ])?;
        for (i, (ns, veth)) in [(ns1, v1), (ns2, v2)].into_iter().enumerate() {
            let cidr = format!("{}/30", net.addr[i]);
            for args in [
                vec!["-n", ns, "addr", "add", &cidr, "dev", veth],
                vec!["-n", ns, "link", "set", "lo", "up"],
                vec!["-n", ns, "link", "set", veth, "up"],
            ] {
                ip(&args).unwrap_or_else(|e| panic!("setting up the namespaces: {e}"));
            }
        }
        Ok(net)
    }

    /// Sets namespace 1's end of the veth pair up or down.
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns[0], "link", "set", &self.veth[0], state])
            .unwrap_or_else(|e| panic!("link {state}: {e}"));
    }

    /// The prefix that runs a command in namespace `i`.
    fn exec(&self, i: usize) -> [&str; 4] {
        ["ip", "netns", "exec", &self.ns[i]]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.created {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Says why the test did not run, past libtest's output capture; fails instead if
/// [`REQUIRE_ENV`] asks for the test to run.
fn skip(reason: &str) {
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but the namespaces cannot be set up: {reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: link_down_and_up_between_two_namespaces: {reason}"
    );
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/// What the subscriber printed.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Counter(u64),
    Peer(String, Liveness),
}

/// The subscriber's next event; panics with everything it printed after `deadline`.
async fn next_event(subscriber: &mut Kid, deadline: Instant) -> Event {
    let Some(line) = subscriber.next("EVENT", deadline).await else {
        panic!(
            "the subscriber printed nothing more within {LIMIT:?} of the start; it printed {:#?}",
            subscriber.seen
        );
    };
    let value: serde_json::Value = serde_json::from_str(&line).expect("an EVENT is JSON");
    match value["kind"].as_str() {
        Some("counter") => Event::Counter(value["n"].as_u64().expect("n")),
        Some("peer") => Event::Peer(
            value["peer"].as_str().expect("peer").to_owned(),
            serde_json::from_value(value["liveness"].clone()).expect("liveness"),
        ),
        _ => panic!("unknown event {line}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_down_and_up_between_two_namespaces() {
    let net = match Netns::create() {
        Ok(net) => net,
        Err(reason) => return skip(&reason),
    };
    let started = Instant::now();
    if tokio::time::timeout(LIMIT, scenario(&net)).await.is_err() {
        panic!("the test did not finish within {LIMIT:?}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "netns test ran in {:?} (namespaces {} and {})",
        started.elapsed(),
        net.ns[0],
        net.ns[1]
    );
}

async fn scenario(net: &Netns) {
    let deadline = Instant::now() + LIMIT;
    let bind = format!("tcp://{}:*", net.addr[0]);
    let mut publisher = spawn_kid(&net.exec(0), PUB_TEST, PUB_MODE, &bind);
    let endpoint = publisher.line("ENDPOINT").await;
    assert!(
        endpoint.starts_with(&format!("tcp://{}:", net.addr[0])),
        "{endpoint}"
    );
    let mut subscriber = spawn_kid(&net.exec(1), SUB_TEST, SUB_MODE, &endpoint);
    let mut peer_events = Vec::new();

    // 1. Across the link: the publisher is alive and its counters flow.
    let mut counters = 0;
    let mut last = 0;
    while peer_events.is_empty() || counters < 5 {
        match next_event(&mut subscriber, deadline).await {
            Event::Counter(n) => {
                counters += 1;
                last = n;
            }
            Event::Peer(peer, liveness) => peer_events.push((peer, liveness)),
        }
    }
    assert_eq!(peer_events, [("NetnsPub".to_owned(), Liveness::Alive)]);

    // 2. Link down until the subscriber's liveness gives the publisher up.
    let down = Instant::now();
    net.link(false);
    while peer_events.len() < 2 {
        match next_event(&mut subscriber, deadline).await {
            Event::Counter(n) => last = n,
            Event::Peer(peer, liveness) => peer_events.push((peer, liveness)),
        }
    }
    assert_eq!(peer_events[1], ("NetnsPub".to_owned(), Liveness::Lost));
    let lost_after = down.elapsed();

    // 3. Link up: liveness comes back, and so do counters published after the link did.
    net.link(true);
    let outage = down.elapsed();
    let last_before_up = last;
    publisher.tell("COUNT");
    let published_at_up: u64 = publisher.line("COUNT").await.parse().expect("a number");
    let mut first_after = None;
    let mut resumed = None;
    while peer_events.len() < 3 || resumed.is_none() {
        match next_event(&mut subscriber, deadline).await {
            Event::Counter(n) => {
                assert!(n > last, "counters in order: {n} after {last}");
                last = n;
                first_after.get_or_insert(n);
                if n > published_at_up {
                    resumed = Some(n);
                }
            }
            Event::Peer(peer, liveness) => peer_events.push((peer, liveness)),
        }
    }
    let names = |l: Liveness| ("NetnsPub".to_owned(), l);
    assert_eq!(
        peer_events,
        [
            names(Liveness::Alive),
            names(Liveness::Lost),
            names(Liveness::Alive)
        ],
        "one hook call per change"
    );

    // The subscriber's liveness table agrees, and nothing on the wire was malformed.
    subscriber.tell("STATS");
    let stats: serde_json::Value =
        serde_json::from_str(&subscriber.line("STATS").await).expect("STATS is JSON");
    assert_eq!(stats["peers"]["NetnsPub"]["liveness"], "alive", "{stats}");
    assert_eq!(stats["peers"]["NetnsPub"]["state"], "running", "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");

    let _ = writeln!(
        std::io::stderr(),
        "link down for {outage:?}; lost {lost_after:?} after the link went down \
         (3 × peer_interval = 1.5 s); counters: last read before link up {last_before_up}, published at link up \
         {published_at_up}, first read after link up {}, resumed at {}; events: {peer_events:?}",
        first_after.unwrap_or_default(),
        resumed.unwrap_or_default(),
    );
}
