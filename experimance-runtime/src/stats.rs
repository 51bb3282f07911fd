use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::lifecycle::{State, Status};
use crate::liveness::PeerStatus;

/// Lock-free counters of one service, shared by its loop, its tasks and its handle.
///
/// Uptime is measured on tokio's clock, so that under a paused clock (tests with
/// `start_paused`) it is virtual time, like the service's timers; otherwise it is the
/// monotonic wall clock.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    started: Mutex<Option<(Instant, SystemTime)>>,
    stopped: Mutex<Option<Instant>>,
}

impl Counters {
    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` errors at once.
    pub(crate) fn errors(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn mark_started(&self) {
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), SystemTime::now()));
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Freezes `uptime` until the next start.
    pub(crate) fn mark_stopped(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    pub(crate) fn snapshot(&self, service: &str, state: State, status: Status) -> StatsSnapshot {
        let started = *self.started.lock().unwrap_or_else(|e| e.into_inner());
        let stopped = *self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (uptime, start_time) = match started {
            Some((instant, wall)) => {
                let end = stopped.unwrap_or_else(Instant::now);
                (
                    end.saturating_duration_since(instant),
                    Some(unix_seconds(wall)),
                )
            }
            None => (Duration::ZERO, None),
        };
        let messages_sent = self.sent.load(Ordering::Relaxed);
        let messages_received = self.received.load(Ordering::Relaxed);
        let per_second = |n: u64| {
            let secs = uptime.as_secs_f64();
            if secs > 0.0 {
                n as f64 / secs
            } else {
                0.0
            }
        };
        StatsSnapshot {
            service: service.to_owned(),
            start_time,
            uptime: uptime.as_secs_f64(),
            messages_sent,
            messages_received,
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            send_rate: per_second(messages_sent),
            receive_rate: per_second(messages_received),
            state,
            status,
            peers: BTreeMap::new(),
        }
    }
}

/// The topic a service publishes its stats on: `<name>.stats`.
pub fn stats_topic(service: &str) -> String {
    format!("{service}.stats")
}

/// A service's statistics at one moment, with the field names of the protocol (`docs/wire.md`).
///
/// Counters accumulate over the service's whole life (across restarts); `start_time` and
/// `uptime` refer to the latest start, and the rates are the counters over that uptime.
/// `messages_received` counts every message taken off a SUB or PULL socket, well-formed or
/// not; `errors` counts bad input, failed or panicking handlers, and failed sends.
///
/// A service with a PUB socket also publishes it every `stats_interval` on
/// [`stats_topic`] (`<name>.stats`), with `"type": "Stats"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// The service's name.
    pub service: String,
    /// Unix time in seconds of the latest start, if it ever started.
    pub start_time: Option<f64>,
    /// Seconds since the latest start.
    pub uptime: f64,
    /// Messages published or pushed.
    pub messages_sent: u64,
    /// Messages received on SUB or PULL.
    pub messages_received: u64,
    /// Bad input, failed handlers and failed sends.
    pub errors: u64,
    /// Connections of connecting SUB and PULL sockets that were lost and connected again by
    /// the service (a field the Python services' stats do not have; absent is 0).
    #[serde(default)]
    pub reconnects: u64,
    /// Messages sent per second of uptime.
    pub send_rate: f64,
    /// Messages received per second of uptime.
    pub receive_rate: f64,
    /// The lifecycle state.
    pub state: State,
    /// The health status.
    pub status: Status,
    /// The liveness of the peers this service follows (the `watch` key), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, PeerStatus>,
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: state={} status={} uptime={:.1}s sent={} ({:.1}/s) received={} ({:.1}/s) errors={}",
            self.service,
            self.state,
            self.status,
            self.uptime,
            self.messages_sent,
            self.send_rate,
            self.messages_received,
            self.receive_rate,
            self.errors
        )?;
        if self.reconnects > 0 {
            write!(f, " reconnects={}", self.reconnects)?;
        }
        const SHOWN: usize = 16;
        for (name, peer) in self.peers.iter().take(SHOWN) {
            let name = crate::Untrusted::str(name);
            write!(f, " peer {name}={}", peer.liveness)?;
        }
        if self.peers.len() > SHOWN {
            write!(f, " (+{} more peers)", self.peers.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Unix time in seconds as a float, the way the Python services write timestamps.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Logs the service's stats every `stats_interval` until `cancel`.
pub(crate) async fn log_stats(core: Arc<Core>, period: Duration, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => report(&core).await,
        }
    }
}

/// Logs the stats, publishes them on `<name>.stats` if the service has a PUB socket, and
/// exports them through the `metrics` facade when that feature is on.
async fn report(core: &Core) {
    core.throttles.flush();
    let stats = core.stats();
    tracing::info!(target: "experimance::stats", "{stats}");
    #[cfg(feature = "metrics")]
    export(&stats);
    #[derive(Serialize)]
    struct Message<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        stats: &'a StatsSnapshot,
    }
    if !core.publishing() {
        return;
    }
    let message = Message {
        kind: "Stats",
        stats: &stats,
    };
    if let Err(e) = core
        .publish(Some(&stats_topic(core.name())), &message)
        .await
    {
        tracing::warn!(error = %e, "stats not published");
    }
}

/// Sets the service's counters and gauges in the `metrics` facade, labelled by service.
#[cfg(feature = "metrics")]
pub(crate) fn export(stats: &StatsSnapshot) {
    let labels = [("service", stats.service.clone())];
    metrics::counter!("experimance_messages_sent_total", &labels).absolute(stats.messages_sent);
    metrics::counter!("experimance_messages_received_total", &labels)
        .absolute(stats.messages_received);
    metrics::counter!("experimance_errors_total", &labels).absolute(stats.errors);
    metrics::counter!("experimance_reconnects_total", &labels).absolute(stats.reconnects);
    metrics::gauge!("experimance_uptime_seconds", &labels).set(stats.uptime);
    let alive = stats
        .peers
        .values()
        .filter(|p| p.liveness == crate::liveness::Liveness::Alive)
        .count();
    metrics::gauge!("experimance_peers_alive", &labels).set(alive as f64);
    metrics::gauge!("experimance_peers", &labels).set(stats.peers.len() as f64);
}

#[cfg(all(test, feature = "metrics"))]
mod metrics_tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn exports_counters_and_gauges_per_service() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let stats = StatsSnapshot {
            service: "Exported".into(),
            start_time: Some(1.0),
            uptime: 2.5,
            messages_sent: 7,
            messages_received: 9,
            errors: 1,
            reconnects: 2,
            send_rate: 0.0,
            receive_rate: 0.0,
            state: State::Running,
            status: Status::Healthy,
            peers: BTreeMap::new(),
        };
        metrics::with_local_recorder(&recorder, || export(&stats));
        let values: Vec<(String, DebugValue)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                assert_eq!(
                    key.labels().next().map(|l| l.value().to_owned()),
                    Some("Exported".into())
                );
                (key.name().to_owned(), value)
            })
            .collect();
        assert!(values.contains(&(
            "experimance_messages_sent_total".into(),
            DebugValue::Counter(7)
        )));
        assert!(values.contains(&("experimance_errors_total".into(), DebugValue::Counter(1))));
        assert!(values.contains(&(
            "experimance_reconnects_total".into(),
            DebugValue::Counter(2)
        )));
        assert!(values
            .iter()
            .any(|(name, _)| name == "experimance_uptime_seconds"));
    }
}
