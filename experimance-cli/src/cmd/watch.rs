//! `watch ADDR...`: a live table of the services whose heartbeats arrive.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use experimance_runtime::{Liveness, Untrusted};

use crate::cli::WatchArgs;
use crate::ctx::{Ctx, Out};
use crate::error::{CliError, Result};
use crate::json::{self, Received};
use crate::net::{self, Recv};
use crate::observe::{self, Stats};

/// What is known of one service.
#[derive(Default)]
struct Service {
    state: Option<String>,
    /// When its last heartbeat arrived.
    heard: Option<Instant>,
    /// Its last heartbeat said `stopping` or `stopped`.
    leaving: bool,
    stats: Option<Stats>,
}

#[derive(Default)]
struct Table {
    services: BTreeMap<String, Service>,
    heartbeats: u64,
    malformed: u64,
}

impl Table {
    /// Takes in one message; returns whether it was a heartbeat.
    fn take(&mut self, frames: &[Vec<u8>]) -> bool {
        let (topic, json) = match json::classify_sub(frames) {
            Received::Message {
                topic: Some(topic),
                json,
            } => (topic, json),
            _ => {
                self.malformed += 1;
                return false;
            }
        };
        if let Some((name, fields)) = observe::stats(topic, json) {
            self.stats(name, fields);
            return false;
        }
        let Some(observe::Beat {
            service: name,
            state,
            leaving,
        }) = observe::heartbeat(json)
        else {
            return false;
        };
        let service = self.services.entry(name).or_default();
        service.state = Some(state);
        service.heard = Some(Instant::now());
        service.leaving = leaving;
        self.heartbeats += 1;
        true
    }

    fn stats(&mut self, name: String, fields: observe::StatsFields) {
        let service = self.services.entry(name).or_default();
        if service.heard.is_none() {
            service.state = fields.state.clone().or(service.state.take());
        }
        service.stats = Some(Stats::next(service.stats.as_ref(), fields));
    }

    fn render(&self, header: &str, timeout: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut rows = vec![[
            "SERVICE",
            "STATE",
            "LIVENESS",
            "LAST SEEN",
            "SENT/s",
            "RECV/s",
            "ERRORS",
            "STATUS",
        ]
        .map(str::to_owned)];
        let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        for (name, s) in &self.services {
            let liveness = s.heard.map(|at| {
                if s.leaving || now.duration_since(at) > timeout {
                    Liveness::Lost
                } else {
                    Liveness::Alive
                }
            });
            let stats = s.stats.as_ref();
            rows.push([
                name.clone(),
                s.state.clone().unwrap_or_else(|| "?".to_owned()),
                liveness.map_or_else(|| "-".to_owned(), |l| l.to_string()),
                s.heard.map_or_else(
                    || "never".to_owned(),
                    |at| format!("{:.1}s ago", now.duration_since(at).as_secs_f64()),
                ),
                rate(stats.and_then(|s| s.send_rate)),
                rate(stats.and_then(|s| s.receive_rate)),
                stats
                    .and_then(|s| s.errors)
                    .map_or_else(|| "-".to_owned(), |e| e.to_string()),
                stats
                    .and_then(|s| s.status.clone())
                    .unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        // Names, states and statuses come from peers: escaped, they cannot steer the terminal.
        for cell in rows.iter_mut().flatten() {
            *cell = Untrusted::str(cell).to_string();
        }
        let mut widths = [0; 8];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut lines = vec![header.to_owned()];
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let _ = write!(line, "{cell:<w$}");
            }
            lines.push(line.trim_end().to_owned());
        }
        if self.services.is_empty() {
            lines.push("(no heartbeat yet)".to_owned());
        }
        if self.malformed > 0 {
            lines.push(format!("{} malformed frame(s) ignored", self.malformed));
        }
        lines
    }
}

/// Runs `watch`.
pub fn run(ctx: &Ctx, args: WatchArgs) -> Result<()> {
    let (socket, place) = net::open_observer(ctx, &args.addrs, &[])?;
    ctx.info(format!("watch: SUB {place}"));
    let timeout = args.interval.saturating_mul(args.missed);
    let header = format!(
        "experimance watch: {} (lost after {} missed {:.1}s heartbeats)",
        args.addrs.join(", "),
        args.missed,
        args.interval.as_secs_f64()
    );
    let live = !args.once && std::io::stdout().is_terminal();
    let draw = |out: &mut Out, table: &Table| -> Result<()> {
        crate::ctx::draw(out, &table.render(&header, timeout), live)
    };

    let mut out = Out::stdout();
    if live {
        out.raw("\x1b[2J")?;
    }
    let mut table = Table::default();
    let start = Instant::now();
    let end = args.duration.map(|d| start + d);
    let mut next = start + args.every;
    let mut timed_out = false;
    loop {
        let deadline = end.map_or(next, |end| end.min(next));
        match net::recv(ctx, &socket, Some(deadline))? {
            Recv::Frames(frames) => {
                let heartbeat = table.take(&frames);
                if heartbeat && args.once && args.duration.is_none() {
                    break;
                }
            }
            Recv::Stopped => break,
            Recv::Timeout => {
                if end.is_some_and(|end| Instant::now() >= end) {
                    timed_out = true;
                    break;
                }
                if !args.once {
                    draw(&mut out, &table)?;
                }
                next += args.every;
            }
        }
    }
    draw(&mut out, &table)?;
    if args.once && timed_out && table.heartbeats == 0 {
        return Err(CliError::runtime(format!(
            "no heartbeat received within {:.1}s",
            args.duration.unwrap_or_default().as_secs_f64()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(topic: &str, body: serde_json::Value) -> Vec<Vec<u8>> {
        vec![format!("{topic} {body}").into_bytes()]
    }

    fn heartbeat(service: &str, state: &str) -> serde_json::Value {
        json!({"type": "Heartbeat", "timestamp": 1764345600.123, "service": service, "state": state})
    }

    fn row<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name} in {lines:#?}"))
            .split_whitespace()
            .collect()
    }

    #[test]
    fn liveness_states_and_rates() {
        let mut table = Table::default();
        assert!(table.take(&frame("heartbeat", heartbeat("A", "running"))));
        assert!(table.take(&frame("hb", heartbeat("B", "stopping"))));
        // A state the runtime does not know is shown as sent.
        assert!(table.take(&frame("heartbeat", heartbeat("C", "paused"))));
        let stats = |uptime: f64, sent: u64| {
            json!({"service": "A", "uptime": uptime, "messages_sent": sent,
                   "messages_received": 0, "errors": 0, "send_rate": 1.0,
                   "receive_rate": 0.0, "status": "healthy", "state": "running"})
        };
        assert!(!table.take(&frame("A.stats", stats(10.0, 10))));
        let lines = table.render("h", Duration::from_secs(15));
        assert_eq!(row(&lines, "A")[5], "1.0", "lifetime rate first");
        assert!(!table.take(&frame("A.stats", stats(12.0, 30))));
        // Stats with no heartbeat yet give a row too.
        assert!(!table.take(&frame("D.stats", json!({"send_rate": 3.0}))));
        assert!(!table.take(&[b"junk".to_vec()]));
        assert!(!table.take(&frame("era", json!({"type": "EraChanged"}))));

        let lines = table.render("h", Duration::from_secs(15));
        assert_eq!(row(&lines, "A")[..3], ["A", "running", "alive"]);
        assert_eq!(row(&lines, "A")[5], "10.0", "rate between snapshots");
        assert_eq!(row(&lines, "A")[8], "healthy");
        assert_eq!(row(&lines, "B")[..3], ["B", "stopping", "lost"]);
        assert_eq!(row(&lines, "C")[..3], ["C", "paused", "alive"]);
        assert_eq!(row(&lines, "D")[..4], ["D", "?", "-", "never"]);
        assert!(lines.iter().any(|l| l == "1 malformed frame(s) ignored"));

        // Silent for longer than the timeout: lost; a new heartbeat: alive again.
        table.services.get_mut("A").unwrap().heard =
            Instant::now().checked_sub(Duration::from_secs(20));
        assert_eq!(
            row(&table.render("h", Duration::from_secs(15)), "A")[2],
            "lost"
        );
        assert!(table.take(&frame("heartbeat", heartbeat("A", "running"))));
        assert_eq!(
            row(&table.render("h", Duration::from_secs(15)), "A")[2],
            "alive"
        );
    }
}
