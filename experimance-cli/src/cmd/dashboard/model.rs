//! What the dashboard knows of the installation, from what arrives at its ADDRs: services
//! (heartbeats, statistics, descriptions), topics (rate, size, last message) and the graph
//! between them (from the descriptions' sockets and subscriptions).
//!
//! Everything here comes from peers, so everything is bounded: at most [`MAX_SERVICES`]
//! services, of which [`MAX_DESCRIBED`] with a description, and [`MAX_TOPICS`] topics (more
//! are counted in `dropped`, with a warning); names, topics and addresses up to
//! [`MAX_NAME_LEN`] bytes; a last message kept up to [`MAX_LAST`] bytes; a description up to
//! [`MAX_DESCRIPTION`] bytes with at most [`MAX_SOCKETS`] sockets and [`MAX_LIST`]
//! subscriptions and published topics. The graph is worked out at most once a tick, and only
//! when something it depends on changed, so its cost does not grow with the message rate.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use experimance_runtime::{ServiceDescription, DESCRIPTION_TOPIC};
use serde::Serialize;

use crate::cmd::check;
use crate::json::{self, Received};
use crate::observe::{self, Stats};

/// The most services kept.
pub const MAX_SERVICES: usize = 256;
/// The most services whose description is kept.
pub const MAX_DESCRIBED: usize = 64;
/// The most topics kept.
pub const MAX_TOPICS: usize = 1024;
/// The longest service name, topic or address kept, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// The largest last message kept per topic, in bytes of JSON.
pub const MAX_LAST: usize = 64 * 1024;
/// The largest description taken, in bytes of JSON.
pub const MAX_DESCRIPTION: usize = 1024 * 1024;
/// The most socket endpoints of a description taken.
pub const MAX_SOCKETS: usize = 16;
/// The most subscriptions, and published topics, of a description taken.
pub const MAX_LIST: usize = 64;
/// States and health statuses are cut to this many characters.
const MAX_WORD: usize = 32;
/// Topic rates are over this much of the recent past.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// What is known of one service.
#[derive(Default)]
struct Service {
    state: Option<String>,
    /// When its last heartbeat arrived.
    heard: Option<Instant>,
    /// When its last heartbeat or statistics arrived.
    seen: Option<Instant>,
    /// Its last heartbeat said `stopping` or `stopped`.
    leaving: bool,
    stats: Option<Stats>,
    description: Option<ServiceDescription>,
    /// The ADDRs (indices) it was heard at.
    addrs: BTreeSet<usize>,
}

/// What was seen of one topic.
#[derive(Default)]
struct Topic {
    count: u64,
    bytes: u64,
    /// Malformed messages on it.
    errors: u64,
    last: Option<Last>,
    /// The ADDRs (indices) it came from.
    addrs: BTreeSet<usize>,
    /// `(when, count, bytes)` at each tick, for the rates.
    samples: VecDeque<(Instant, u64, u64)>,
}

/// The last message of a topic.
struct Last {
    at: Instant,
    wall: SystemTime,
    bytes: usize,
    /// The JSON, unless it was larger than [`MAX_LAST`].
    json: Option<String>,
}

/// The model.
pub struct Model {
    addrs: Vec<String>,
    services: BTreeMap<String, Service>,
    topics: BTreeMap<String, Topic>,
    /// Messages that were not `<topic> <json>`, on no known topic.
    malformed: u64,
    dropped: Dropped,
    /// The heartbeat interval of services whose description does not give one.
    interval: Duration,
    missed: u32,
    /// Edges, publishers and subscribers, as of the last tick.
    graph: Graph,
    /// Something the graph depends on changed since.
    dirty: bool,
}

/// What the descriptions and the topics' origins say about who talks to whom.
#[derive(Default)]
struct Graph {
    edges: Vec<Edge>,
    /// Topic → the services that publish it.
    publishers: BTreeMap<String, Vec<String>>,
    /// Topic → the described services that subscribe to it.
    subscribers: BTreeMap<String, Vec<String>>,
}

/// What was left out to keep the model bounded.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Dropped {
    /// Messages on topics beyond [`MAX_TOPICS`] or longer than [`MAX_NAME_LEN`].
    pub topics: u64,
    /// Heartbeats, statistics and descriptions of services beyond [`MAX_SERVICES`], or
    /// whose name is longer than [`MAX_NAME_LEN`].
    pub services: u64,
    /// Descriptions beyond the bounds, or malformed.
    pub descriptions: u64,
}

/// The whole picture, as `/api/snapshot` and the event stream give it.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// When it was taken, in Unix seconds.
    pub generated_at: f64,
    /// The ADDRs listened to.
    pub addresses: Vec<String>,
    /// The services (the graph's nodes), by name.
    pub services: Vec<ServiceView>,
    /// The topics seen, by name.
    pub topics: Vec<TopicView>,
    /// Who sends to whom.
    pub edges: Vec<Edge>,
    /// Messages that were not `<topic> <json>` on any topic.
    pub malformed: u64,
    /// What was left out to bound memory.
    pub dropped: Dropped,
}

/// One service.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    /// Its name.
    pub name: String,
    /// Its type, from its description.
    pub service_type: Option<String>,
    /// `alive`, `stopping` (its last heartbeat said stopping or stopped), `lost` (silent for
    /// longer than its heartbeat interval times `--missed`) or `unknown` (described only).
    pub liveness: &'static str,
    /// Its state, from its heartbeats (or statistics).
    pub state: Option<String>,
    /// Its health (`healthy`, `warning`, `error`, `fatal`), from its statistics.
    pub status: Option<String>,
    /// Seconds since a heartbeat or statistics came.
    pub last_seen: Option<f64>,
    /// Its heartbeat interval in seconds, from its description.
    pub heartbeat_interval: Option<f64>,
    /// From its statistics.
    pub uptime: Option<f64>,
    /// From its statistics.
    pub messages_sent: Option<u64>,
    /// From its statistics.
    pub messages_received: Option<u64>,
    /// From its statistics.
    pub errors: Option<u64>,
    /// Messages sent per second, between its last two statistics.
    pub send_rate: Option<f64>,
    /// Messages received per second, between its last two statistics.
    pub receive_rate: Option<f64>,
    /// The ADDRs it was heard at.
    pub addresses: Vec<String>,
    /// Its sockets, from its description.
    pub sockets: Vec<SocketView>,
    /// Its subscriptions, from its description.
    pub subscriptions: Vec<String>,
    /// What it declares it publishes, from its description.
    pub publishes: Vec<String>,
    /// Whether its description came.
    pub described: bool,
}

/// One socket endpoint of a described service.
#[derive(Debug, Serialize)]
pub struct SocketView {
    /// `pub`, `sub`, `push` or `pull`.
    pub role: String,
    /// `bind` or `connect`.
    pub direction: String,
    /// The endpoint in use (else the address as configured).
    pub endpoint: String,
}

/// One topic.
#[derive(Debug, Serialize)]
pub struct TopicView {
    /// Its name.
    pub topic: String,
    /// The services that publish it: declared in their description, or the one service
    /// heard at the ADDR it came from.
    pub publishers: Vec<String>,
    /// The described services that subscribe to it (by prefix).
    pub subscribers: Vec<String>,
    /// The ADDRs it came from.
    pub addresses: Vec<String>,
    /// Messages seen.
    pub count: u64,
    /// Messages per second over the last few seconds.
    pub rate: f64,
    /// Bytes per second over the last few seconds.
    pub bytes_rate: f64,
    /// Average message size in bytes.
    pub avg_bytes: f64,
    /// Malformed messages on it.
    pub errors: u64,
    /// Seconds since its last message.
    pub last_seen: Option<f64>,
    /// The size of its last message in bytes.
    pub last_bytes: Option<usize>,
}

/// The last message of a topic, as `/api/topics/{topic}/last` gives it.
#[derive(Debug, Serialize)]
pub struct LastView {
    /// The topic.
    pub topic: String,
    /// When it came, in Unix seconds.
    pub received_at: f64,
    /// Its size in bytes.
    pub bytes: usize,
    /// The message; `null` when it was larger than the dashboard keeps (`truncated`).
    pub message: Option<Box<serde_json::value::RawValue>>,
    /// It was too large to keep.
    pub truncated: bool,
}

/// An edge of the graph.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Edge {
    /// The sending service.
    pub from: String,
    /// The receiving service.
    pub to: String,
    /// `topic` (PUB → SUB) or `tasks` (PUSH → PULL).
    pub kind: &'static str,
    /// The topics it carries (for `topic` edges).
    pub topics: Vec<String>,
}

impl Model {
    /// An empty model for `addrs`; services that do not say their heartbeat interval are
    /// taken to send one every `interval`, and are lost after `missed` missed ones.
    pub fn new(addrs: Vec<String>, interval: Duration, missed: u32) -> Model {
        Model {
            addrs,
            services: BTreeMap::new(),
            topics: BTreeMap::new(),
            malformed: 0,
            dropped: Dropped::default(),
            interval,
            missed,
            graph: Graph::default(),
            dirty: false,
        }
    }

    /// What was dropped so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// Takes in one message that arrived at ADDR number `addr`.
    pub fn take(&mut self, addr: usize, frames: &[Vec<u8>], now: Instant) {
        let size: usize = frames.iter().map(Vec::len).sum();
        let (topic, json) = match json::classify_sub(frames) {
            Received::Message {
                topic: Some(topic),
                json,
            } => (topic, Some(json)),
            Received::Malformed {
                topic: Some(topic), ..
            } => (topic, None),
            _ => {
                self.malformed += 1;
                return;
            }
        };
        if topic == DESCRIPTION_TOPIC {
            if let Some(json) = json {
                self.describe(addr, json);
            }
            return;
        }
        if let Some(json) = json {
            if let Some((name, fields)) = observe::stats(topic, json) {
                if let Some(service) = self.service(&name, addr) {
                    if service.heard.is_none() {
                        service.state = fields.state.as_deref().map(word).or(service.state.take());
                    }
                    service.seen = Some(now);
                    let mut stats = Stats::next(service.stats.as_ref(), fields);
                    stats.status = stats.status.as_deref().map(word);
                    service.stats = Some(stats);
                }
            } else if let Some(beat) = observe::heartbeat(json) {
                if let Some(service) = self.service(&beat.service, addr) {
                    service.state = Some(word(&beat.state));
                    service.leaving = beat.leaving;
                    service.heard = Some(now);
                    service.seen = Some(now);
                }
            }
        }
        self.count(addr, topic, json, size, now);
    }

    /// The entry of service `name`, heard at `addr`; `None` when there are too many or the
    /// name is too long.
    fn service(&mut self, name: &str, addr: usize) -> Option<&mut Service> {
        let known = self.services.contains_key(name);
        if name.len() > MAX_NAME_LEN || (!known && self.services.len() >= MAX_SERVICES) {
            self.dropped.services += 1;
            return None;
        }
        let service = self.services.entry(name.to_owned()).or_default();
        // Who is heard where decides who publishes the topics that come from there.
        self.dirty |= service.addrs.insert(addr);
        Some(service)
    }

    fn describe(&mut self, addr: usize, json: &str) {
        if json.len() > MAX_DESCRIPTION {
            self.dropped.descriptions += 1;
            return;
        }
        let described = self
            .services
            .values()
            .filter(|s| s.description.is_some())
            .count();
        let description = match serde_json::from_str::<ServiceDescription>(json) {
            Ok(d) if d.kind == "ServiceDescription" => d,
            _ => {
                self.dropped.descriptions += 1;
                return;
            }
        };
        let long = |text: &String| text.len() > MAX_NAME_LEN;
        let bounded = description.sockets.len() <= MAX_SOCKETS
            && description.subscriptions.len() <= MAX_LIST
            && description.publishes.len() <= MAX_LIST
            && !long(&description.service_type)
            && !description.subscriptions.iter().any(long)
            && !description.publishes.iter().any(long)
            && !description.heartbeat_topic.as_ref().is_some_and(long)
            && !description.sockets.iter().any(|k| {
                long(&k.address)
                    || k.endpoint.as_ref().is_some_and(long)
                    || k.role.len() > 8
                    || k.direction.len() > 8
            });
        let new = self
            .services
            .get(&description.name)
            .is_none_or(|s| s.description.is_none());
        if !bounded || (new && described >= MAX_DESCRIBED) {
            self.dropped.descriptions += 1;
            return;
        }
        // Only what the dashboard shows: not the handlers (and their schemas).
        let description = ServiceDescription {
            handlers: Vec::new(),
            watch: Vec::new(),
            ..description
        };
        let name = description.name.clone();
        if let Some(service) = self.service(&name, addr) {
            if service.description.as_ref() != Some(&description) {
                service.description = Some(description);
                self.dirty = true;
            }
        }
    }

    fn count(&mut self, addr: usize, topic: &str, json: Option<&str>, size: usize, now: Instant) {
        let known = self.topics.contains_key(topic);
        if topic.len() > MAX_NAME_LEN || (!known && self.topics.len() >= MAX_TOPICS) {
            self.dropped.topics += 1;
            return;
        }
        let entry = self
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| Topic {
                // Its rate counts from now, not from the next tick.
                samples: VecDeque::from([(now, 0, 0)]),
                ..Topic::default()
            });
        self.dirty |= entry.addrs.insert(addr);
        let Some(json) = json else {
            entry.errors += 1;
            return;
        };
        entry.count += 1;
        entry.bytes += size as u64;
        entry.last = Some(Last {
            at: now,
            wall: SystemTime::now(),
            bytes: size,
            json: (json.len() <= MAX_LAST).then(|| json.to_owned()),
        });
    }

    /// Records the counts of every topic, for the rates, and works the graph out again if
    /// something it depends on changed; called about once a second.
    pub fn tick(&mut self, now: Instant) {
        if std::mem::take(&mut self.dirty) {
            self.graph = self.graph();
        }
        for topic in self.topics.values_mut() {
            topic.samples.push_back((now, topic.count, topic.bytes));
            while topic.samples.len() > 2
                && topic
                    .samples
                    .get(1)
                    .is_some_and(|(at, ..)| now.duration_since(*at) >= RATE_WINDOW)
            {
                topic.samples.pop_front();
            }
        }
    }

    /// The last message of `topic`, if one came.
    pub fn last(&self, topic: &str) -> Option<LastView> {
        let last = self.topics.get(topic)?.last.as_ref()?;
        Some(LastView {
            topic: topic.to_owned(),
            received_at: unix(last.wall),
            bytes: last.bytes,
            message: last
                .json
                .as_ref()
                .and_then(|j| serde_json::value::RawValue::from_string(j.clone()).ok()),
            truncated: last.json.is_none(),
        })
    }

    /// The whole picture at `now` (the graph as of the last tick).
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        Snapshot {
            generated_at: unix(SystemTime::now()),
            addresses: self.addrs.clone(),
            services: self
                .services
                .iter()
                .map(|(name, s)| self.service_view(name, s, now))
                .collect(),
            topics: self
                .topics
                .iter()
                .map(|(name, t)| self.topic_view(name, t, now))
                .collect(),
            edges: self.graph.edges.clone(),
            malformed: self.malformed,
            dropped: self.dropped,
        }
    }

    /// Works out the graph from the descriptions and where each topic came from.
    fn graph(&self) -> Graph {
        let described: Vec<ServiceDescription> = self
            .services
            .values()
            .filter_map(|s| s.description.clone())
            .collect();
        // Topic → publishers: declared in a description, or, for a topic that came from an
        // ADDR where one service alone was heard, that service.
        let declared: Vec<(&str, Vec<String>)> = described
            .iter()
            .map(|d| (d.name.as_str(), check::published(d)))
            .collect();
        let mut publishers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (topic, seen) in &self.topics {
            let set = publishers.entry(topic.clone()).or_default();
            for (name, topics) in &declared {
                if topics.iter().any(|t| t == topic) {
                    set.insert((*name).to_owned());
                }
            }
            for &addr in &seen.addrs {
                let mut at = self
                    .services
                    .iter()
                    .filter(|(_, s)| s.addrs.contains(&addr));
                if let (Some((name, _)), None) = (at.next(), at.next()) {
                    set.insert(name.clone());
                }
            }
        }
        let subscribers = self
            .topics
            .keys()
            .map(|topic| {
                let names = described
                    .iter()
                    .filter(|d| subscribes(d, topic))
                    .map(|d| d.name.clone())
                    .collect();
                (topic.clone(), names)
            })
            .collect();
        Graph {
            edges: edges(&described, &publishers),
            publishers: publishers
                .into_iter()
                .map(|(topic, set)| (topic, set.into_iter().collect()))
                .collect(),
            subscribers,
        }
    }

    fn service_view(&self, name: &str, s: &Service, now: Instant) -> ServiceView {
        let description = s.description.as_ref();
        let interval = description
            .and_then(|d| d.heartbeat_interval)
            .and_then(|i| Duration::try_from_secs_f64(i).ok())
            .unwrap_or(self.interval);
        let liveness = match s.seen {
            _ if s.leaving => "stopping",
            None => "unknown",
            Some(at) if now.duration_since(at) > interval.saturating_mul(self.missed) => "lost",
            Some(_) => "alive",
        };
        let stats = s.stats.clone().unwrap_or_default();
        ServiceView {
            name: name.to_owned(),
            service_type: description.map(|d| d.service_type.clone()),
            liveness,
            state: s.state.clone(),
            status: stats.status,
            last_seen: s.seen.map(|at| round(now.duration_since(at).as_secs_f64())),
            heartbeat_interval: description.and_then(|d| d.heartbeat_interval),
            uptime: stats.uptime,
            messages_sent: stats.messages_sent,
            messages_received: stats.messages_received,
            errors: stats.errors,
            send_rate: stats.send_rate.map(round),
            receive_rate: stats.receive_rate.map(round),
            addresses: s.addrs.iter().map(|&i| self.addrs[i].clone()).collect(),
            sockets: description.map_or_else(Vec::new, |d| {
                d.sockets
                    .iter()
                    .map(|k| SocketView {
                        role: k.role.clone(),
                        direction: k.direction.clone(),
                        endpoint: k.endpoint.clone().unwrap_or_else(|| k.address.clone()),
                    })
                    .collect()
            }),
            subscriptions: description.map_or_else(Vec::new, |d| d.subscriptions.clone()),
            publishes: description.map_or_else(Vec::new, |d| d.publishes.clone()),
            described: description.is_some(),
        }
    }

    fn topic_view(&self, name: &str, t: &Topic, now: Instant) -> TopicView {
        let (rate, bytes_rate) = match t.samples.front() {
            Some(&(at, count, bytes)) if now > at => {
                let dt = now.duration_since(at).as_secs_f64();
                ((t.count - count) as f64 / dt, (t.bytes - bytes) as f64 / dt)
            }
            _ => (0.0, 0.0),
        };
        TopicView {
            topic: name.to_owned(),
            publishers: self.graph.publishers.get(name).cloned().unwrap_or_default(),
            subscribers: self
                .graph
                .subscribers
                .get(name)
                .cloned()
                .unwrap_or_default(),
            addresses: t.addrs.iter().map(|&i| self.addrs[i].clone()).collect(),
            count: t.count,
            rate: round(rate),
            bytes_rate: round(bytes_rate),
            avg_bytes: if t.count == 0 {
                0.0
            } else {
                (t.bytes as f64 / t.count as f64).round()
            },
            errors: t.errors,
            last_seen: t
                .last
                .as_ref()
                .map(|l| round(now.duration_since(l.at).as_secs_f64())),
            last_bytes: t.last.as_ref().map(|l| l.bytes),
        }
    }
}

/// Whether `service` subscribes (by prefix) to `topic`.
fn subscribes(service: &ServiceDescription, topic: &str) -> bool {
    service.sockets.iter().any(|s| s.role == "sub")
        && service
            .subscriptions
            .iter()
            .any(|p| topic.starts_with(p.as_str()))
}

/// The topics shown on edges: not the descriptions and statistics every PUB sends.
fn on_edges(topic: &str) -> bool {
    topic != DESCRIPTION_TOPIC && !topic.ends_with(observe::STATS_SUFFIX)
}

/// The graph's edges between described services.
///
/// PUB → SUB: a PUB of `a` reaches a SUB of `b` (by address, as `check` matches them), or
/// both connect to addresses no described service binds (a proxy between them, as in the hub
/// pattern); labelled with the topics `a` publishes that `b` subscribes to. PUSH → PULL: a
/// PUSH of `a` reaches a PULL of `b`.
fn edges(
    described: &[ServiceDescription],
    publishers: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Edge> {
    // Which services reach which, socket by socket, once: O(sockets²).
    let sockets = check::sockets(described);
    let unbound: Vec<bool> = sockets
        .iter()
        .map(|(s, _)| {
            !s.bind
                && !sockets
                    .iter()
                    .any(|(other, _)| other.bind && check::connected(s, other))
        })
        .collect();
    let mut topic_pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut task_pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, (x, _)) in sockets.iter().enumerate() {
        for (j, (y, _)) in sockets.iter().enumerate() {
            if x.service == y.service {
                continue;
            }
            let pair = (x.service, y.service);
            match (x.role, y.role) {
                ("pub", "sub") if check::connected(x, y) || (unbound[i] && unbound[j]) => {
                    topic_pairs.insert(pair);
                }
                ("push", "pull") if check::connected(x, y) => {
                    task_pairs.insert(pair);
                }
                _ => {}
            }
        }
    }
    let mut edges = Vec::new();
    for a in described {
        let mut sent: BTreeSet<String> = check::published(a).into_iter().collect();
        sent.extend(
            publishers
                .iter()
                .filter(|(_, p)| p.contains(&a.name))
                .map(|(t, _)| t.clone()),
        );
        for b in described {
            if a.name == b.name {
                continue;
            }
            let pair = (a.name.as_str(), b.name.as_str());
            let topics: Vec<String> = if topic_pairs.contains(&pair) {
                sent.iter()
                    .filter(|t| on_edges(t) && subscribes(b, t))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            if !topics.is_empty() {
                edges.push(Edge {
                    from: a.name.clone(),
                    to: b.name.clone(),
                    kind: "topic",
                    topics,
                });
            }
            if task_pairs.contains(&pair) {
                edges.push(Edge {
                    from: a.name.clone(),
                    to: b.name.clone(),
                    kind: "tasks",
                    topics: Vec::new(),
                });
            }
        }
    }
    edges
}

/// `text` cut to [`MAX_WORD`] characters.
fn word(text: &str) -> String {
    text.chars().take(MAX_WORD).collect()
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Three decimals are plenty for rates and ages.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(topic: &str, body: serde_json::Value) -> Vec<Vec<u8>> {
        vec![format!("{topic} {body}").into_bytes()]
    }

    fn socket(role: &str, direction: &str, address: &str) -> serde_json::Value {
        json!({"role": role, "direction": direction, "address": address, "endpoint": address})
    }

    fn description(
        name: &str,
        sockets: Vec<serde_json::Value>,
        subscriptions: &[&str],
        publishes: &[&str],
    ) -> serde_json::Value {
        json!({"type": "ServiceDescription", "name": name, "service_type": "test",
               "sockets": sockets, "subscriptions": subscriptions, "handlers": [],
               "publishes": publishes, "heartbeat_topic": "heartbeat",
               "heartbeat_interval": 1.0, "watch": []})
    }

    fn beat(name: &str, state: &str) -> serde_json::Value {
        json!({"type": "Heartbeat", "timestamp": 1.0, "service": name, "state": state})
    }

    #[test]
    fn nodes_edges_rates_and_liveness() {
        let t0 = Instant::now();
        let mut model = Model::new(
            vec!["tcp://core".into(), "tcp://display".into()],
            Duration::from_secs(5),
            3,
        );
        let core = description(
            "core",
            vec![
                socket("pub", "bind", "tcp://127.0.0.1:5555"),
                socket("push", "bind", "tcp://127.0.0.1:5556"),
            ],
            &[],
            &["era"],
        );
        let display = description(
            "display",
            vec![
                socket("pub", "bind", "tcp://127.0.0.1:5557"),
                socket("sub", "connect", "tcp://localhost:5555"),
                socket("pull", "connect", "tcp://localhost:5556"),
            ],
            &["era", "heartbeat"],
            &[],
        );
        model.take(0, &frame(DESCRIPTION_TOPIC, core), t0);
        model.take(1, &frame(DESCRIPTION_TOPIC, display), t0);
        model.take(0, &frame("heartbeat", beat("core", "running")), t0);
        model.take(1, &frame("heartbeat", beat("display", "running")), t0);
        model.tick(t0);
        for _ in 0..10 {
            model.take(0, &frame("era", json!({"era": "wilderness"})), t0);
        }
        // Published from the display's ADDR, where the display alone is heard.
        model.take(1, &frame("frame_shown", json!({"n": 1})), t0);
        model.take(0, &[b"era not-json".to_vec()], t0);
        model.take(0, &[b"junk".to_vec()], t0);
        let t1 = t0 + Duration::from_secs(2);
        model.tick(t1);
        let snapshot = model.snapshot(t1);

        let names: Vec<&str> = snapshot.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["core", "display"]);
        assert!(snapshot.services.iter().all(|s| s.liveness == "alive"));
        assert_eq!(
            snapshot.edges,
            [
                Edge {
                    from: "core".into(),
                    to: "display".into(),
                    kind: "topic",
                    topics: vec!["era".into(), "heartbeat".into()],
                },
                Edge {
                    from: "core".into(),
                    to: "display".into(),
                    kind: "tasks",
                    topics: vec![],
                },
            ]
        );
        let era = snapshot.topics.iter().find(|t| t.topic == "era").unwrap();
        assert_eq!((era.count, era.errors), (10, 1));
        assert_eq!(era.rate, 5.0, "10 messages in 2 s");
        assert_eq!(era.publishers, ["core"]);
        assert_eq!(era.subscribers, ["display"]);
        let shown = snapshot.topics.iter().find(|t| t.topic == "frame_shown");
        assert_eq!(shown.unwrap().publishers, ["display"]);
        assert_eq!(snapshot.malformed, 1);
        assert_eq!(
            model.last("era").unwrap().message.unwrap().get(),
            r#"{"era":"wilderness"}"#
        );

        // Silent for more than 3 intervals (1 s each, from the descriptions): lost.
        model.take(1, &frame("heartbeat", beat("display", "stopped")), t1);
        let later = model.snapshot(t1 + Duration::from_millis(3500));
        let liveness: Vec<&str> = later.services.iter().map(|s| s.liveness).collect();
        assert_eq!(liveness, ["lost", "stopping"]);
    }

    #[test]
    fn edges_through_a_proxy_but_not_between_strangers() {
        let t0 = Instant::now();
        let mut model = Model::new(vec!["hub".into()], Duration::from_secs(5), 3);
        let services = [
            // Both connect to a proxy (which no description binds): an edge.
            description(
                "camera",
                vec![socket("pub", "connect", "tcp://hub:6000")],
                &[],
                &["frame"],
            ),
            description(
                "viewer",
                vec![socket("sub", "connect", "tcp://hub:6001")],
                &["frame", "status"],
                &[],
            ),
            // Its PUB connects to the controller's bound SUB: it reaches the controller,
            // not the viewer, though the viewer subscribes to `status`.
            description(
                "controller",
                vec![socket("sub", "bind", "tcp://*:7000")],
                &["status"],
                &[],
            ),
            description(
                "worker",
                vec![socket("pub", "connect", "tcp://localhost:7000")],
                &[],
                &["status"],
            ),
        ];
        for d in services {
            model.take(0, &frame(DESCRIPTION_TOPIC, d), t0);
        }
        model.tick(t0);
        let edges: Vec<(String, String, Vec<String>)> = model
            .snapshot(t0)
            .edges
            .into_iter()
            .map(|e| (e.from, e.to, e.topics))
            .collect();
        assert_eq!(
            edges,
            [
                ("camera".into(), "viewer".into(), vec!["frame".into()]),
                ("worker".into(), "controller".into(), vec!["status".into()]),
            ]
        );
    }

    #[test]
    fn hostile_peers_are_bounded() {
        let t0 = Instant::now();
        let mut model = Model::new(vec!["a".into()], Duration::from_secs(5), 3);
        for i in 0..MAX_TOPICS + 10 {
            model.take(0, &frame(&format!("t{i}"), json!(1)), t0);
        }
        model.take(0, &frame(&"x".repeat(MAX_NAME_LEN + 1), json!(1)), t0);
        for i in 0..MAX_SERVICES + 5 {
            model.take(0, &frame("hb", beat(&format!("s{i}"), "running")), t0);
        }
        let big = json!({ "data": "x".repeat(MAX_LAST) });
        model.take(0, &frame("t0", big), t0);
        model.take(0, &frame(DESCRIPTION_TOPIC, json!({"type": "Nope"})), t0);
        let dropped = model.dropped();
        // Heartbeats on `hb`, a new topic, count among the dropped topics too.
        assert_eq!(dropped.topics, 10 + 1 + MAX_SERVICES as u64 + 5);
        assert_eq!(dropped.services, 5);
        assert_eq!(dropped.descriptions, 1);
        let last = model.last("t0").unwrap();
        assert!(last.truncated && last.message.is_none());
        assert!(last.bytes > MAX_LAST);

        // Descriptions: bounded in number and in size.
        let mut model = Model::new(vec!["a".into()], Duration::from_secs(5), 3);
        let pub_socket = || socket("pub", "bind", "tcp://127.0.0.1:5555");
        for i in 0..MAX_DESCRIBED + 2 {
            let d = description(&format!("s{i}"), vec![pub_socket()], &[], &[]);
            model.take(0, &frame(DESCRIPTION_TOPIC, d), t0);
        }
        let too_many_sockets = description("wide", vec![pub_socket(); MAX_SOCKETS + 1], &[], &[]);
        model.take(0, &frame(DESCRIPTION_TOPIC, too_many_sockets), t0);
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let long_topic = description("long", vec![pub_socket()], &[long.as_str()], &[]);
        model.take(0, &frame(DESCRIPTION_TOPIC, long_topic), t0);
        model.take(0, &frame("hb", beat(&long, "running")), t0);
        model.take(0, &frame("hb", beat("s0", &"y".repeat(1000))), t0);
        assert_eq!(model.dropped().descriptions, 2 + 2);
        assert_eq!(model.dropped().services, 1);
        model.tick(t0);
        let snapshot = model.snapshot(t0);
        let described = snapshot.services.iter().filter(|s| s.described).count();
        assert_eq!(described, MAX_DESCRIBED);
        let s0 = snapshot.services.iter().find(|s| s.name == "s0").unwrap();
        assert_eq!(s0.state.as_ref().map(String::len), Some(MAX_WORD));
    }
}
