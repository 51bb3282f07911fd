//! Peer liveness from heartbeats, after the ZeroMQ guide's Paranoid Pirate and Majordomo
//! patterns: a peer is `alive` until it misses three heartbeat intervals, then `lost`, then
//! `alive` again when a heartbeat comes back.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use serde::{Deserialize, Serialize};

use crate::core::lock;
use crate::heartbeat::Heartbeat;
use crate::lifecycle::State;
use crate::stats::unix_seconds;

/// How many heartbeat intervals a peer may miss before it is `lost`.
pub const MISSED_INTERVALS: u32 = 3;

/// How many peers the liveness table holds; when it is full, a lost peer makes room for a
/// new one, and with none lost a heartbeat from a new name is refused, so a peer inventing
/// names cannot grow the table without bound.
pub(crate) const MAX_PEERS: usize = 1024;

/// The longest peer name the liveness table takes, in bytes.
pub(crate) const MAX_PEER_NAME: usize = 256;

/// Why a heartbeat did not make it into the liveness table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The table is full of peers that are alive.
    TableFull,
    /// The name is longer than [`MAX_PEER_NAME`].
    NameTooLong,
}

/// Whether a followed peer is heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    /// Its heartbeats arrive.
    Alive,
    /// It missed three intervals, or its last heartbeat said it was stopping.
    Lost,
}

impl fmt::Display for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Liveness::Alive => "alive",
            Liveness::Lost => "lost",
        })
    }
}

/// One row of the liveness table in [`StatsSnapshot`](crate::StatsSnapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Alive or lost.
    pub liveness: Liveness,
    /// The lifecycle state its last heartbeat gave.
    pub state: State,
    /// Unix time in seconds of its last heartbeat.
    pub last_seen: f64,
}

struct Peer {
    seen_at: Instant,
    seen_wall: SystemTime,
    state: State,
    liveness: Liveness,
}

/// The liveness table of one service.
#[derive(Default)]
pub(crate) struct Peers(Mutex<BTreeMap<String, Peer>>);

impl Peers {
    /// Records `heartbeat`; returns the peer's new liveness if it changed. A peer whose
    /// heartbeat says `stopping` or `stopped` is leaving, so it is lost at once.
    pub(crate) fn heard(&self, heartbeat: &Heartbeat) -> Result<Option<Liveness>, Refused> {
        if heartbeat.service.len() > MAX_PEER_NAME {
            return Err(Refused::NameTooLong);
        }
        let liveness = match heartbeat.state {
            State::Stopping | State::Stopped => Liveness::Lost,
            _ => Liveness::Alive,
        };
        let mut peers = lock(&self.0);
        if peers.len() >= MAX_PEERS && !peers.contains_key(&heartbeat.service) {
            let lost = peers
                .iter()
                .find(|(_, p)| p.liveness == Liveness::Lost)
                .map(|(name, _)| name.clone());
            match lost {
                Some(name) => {
                    peers.remove(&name);
                }
                None => return Err(Refused::TableFull),
            }
        }
        let previous = peers
            .insert(
                heartbeat.service.clone(),
                Peer {
                    seen_at: Instant::now(),
                    seen_wall: SystemTime::now(),
                    state: heartbeat.state,
                    liveness,
                },
            )
            .map(|p| p.liveness);
        Ok(match previous {
            Some(old) if old == liveness => None,
            None if liveness == Liveness::Lost => None,
            _ => Some(liveness),
        })
    }

    /// Marks as lost every alive peer silent for longer than `timeout`; returns their names.
    pub(crate) fn expire(&self, timeout: Duration) -> Vec<String> {
        let now = Instant::now();
        lock(&self.0)
            .iter_mut()
            .filter(|(_, p)| {
                p.liveness == Liveness::Alive && now.duration_since(p.seen_at) > timeout
            })
            .map(|(name, p)| {
                p.liveness = Liveness::Lost;
                name.clone()
            })
            .collect()
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, PeerStatus> {
        lock(&self.0)
            .iter()
            .map(|(name, p)| {
                let status = PeerStatus {
                    liveness: p.liveness,
                    state: p.state,
                    last_seen: unix_seconds(p.seen_wall),
                };
                (name.clone(), status)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(state: State) -> Heartbeat {
        Heartbeat::now("peer", state)
    }

    #[test]
    fn alive_lost_alive() {
        let peers = Peers::default();
        assert_eq!(
            peers.heard(&beat(State::Running)),
            Ok(Some(Liveness::Alive))
        );
        assert_eq!(peers.heard(&beat(State::Running)), Ok(None));
        assert_eq!(peers.expire(Duration::from_secs(60)), Vec::<String>::new());
        assert_eq!(peers.expire(Duration::ZERO), vec!["peer".to_owned()]);
        assert_eq!(peers.expire(Duration::ZERO), Vec::<String>::new());
        assert_eq!(
            peers.heard(&beat(State::Running)),
            Ok(Some(Liveness::Alive))
        );
        assert_eq!(
            peers.heard(&beat(State::Stopping)),
            Ok(Some(Liveness::Lost))
        );
        assert_eq!(peers.snapshot()["peer"].liveness, Liveness::Lost);
    }

    #[test]
    fn invented_names_cannot_grow_the_table() {
        let peers = Peers::default();
        for i in 0..MAX_PEERS {
            let name = format!("peer-{i}");
            assert!(peers.heard(&Heartbeat::now(&name, State::Running)).is_ok());
        }
        let extra = Heartbeat::now("one too many", State::Running);
        assert_eq!(peers.heard(&extra), Err(Refused::TableFull));
        assert_eq!(peers.expire(Duration::ZERO).len(), MAX_PEERS);
        assert_eq!(
            peers.heard(&extra),
            Ok(Some(Liveness::Alive)),
            "a lost peer made room"
        );
        assert_eq!(peers.snapshot().len(), MAX_PEERS);
        let long = Heartbeat::now(&"x".repeat(MAX_PEER_NAME + 1), State::Running);
        assert_eq!(peers.heard(&long), Err(Refused::NameTooLong));
    }
}
