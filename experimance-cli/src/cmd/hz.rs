//! `hz ADDR`: message rate and size per topic, like `ros2 topic hz`.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;
use std::time::Instant;

use serde::Serialize;

use crate::cli::HzArgs;
use crate::ctx::{Ctx, Out};
use crate::error::Result;
use crate::json::{self, Received};
use crate::net::{self, Recv};

/// The key under which malformed frames are counted.
const MALFORMED: &str = "<malformed>";

/// What is kept of one topic: a total and a window of the latest arrivals.
#[derive(Default)]
struct Topic {
    count: u64,
    window: VecDeque<(Instant, usize)>,
}

/// One topic's line of the report.
#[derive(Serialize)]
struct Report {
    count: u64,
    /// Messages per second over the window: (n - 1) / (last - first).
    rate: Option<f64>,
    /// Average frame size in bytes over the window.
    avg_bytes: f64,
    min_interval: Option<f64>,
    max_interval: Option<f64>,
    window: usize,
}

impl Topic {
    fn add(&mut self, at: Instant, size: usize, window: usize) {
        self.count += 1;
        if self.window.len() == window {
            self.window.pop_front();
        }
        self.window.push_back((at, size));
    }

    fn report(&self) -> Report {
        let n = self.window.len();
        let bytes: usize = self.window.iter().map(|&(_, size)| size).sum();
        let intervals: Vec<f64> = self
            .window
            .iter()
            .zip(self.window.iter().skip(1))
            .map(|(a, b)| (b.0 - a.0).as_secs_f64())
            .collect();
        let span: f64 = intervals.iter().sum();
        Report {
            count: self.count,
            rate: (n >= 2 && span > 0.0).then(|| (n - 1) as f64 / span),
            avg_bytes: if n == 0 { 0.0 } else { bytes as f64 / n as f64 },
            min_interval: intervals.iter().copied().reduce(f64::min),
            max_interval: intervals.iter().copied().reduce(f64::max),
            window: n,
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    elapsed: f64,
    topics: BTreeMap<&'a str, Report>,
}

/// Runs `hz`.
pub fn run(ctx: &Ctx, args: HzArgs) -> Result<()> {
    let (socket, place) = net::open_observer(ctx, &args.addrs, &args.sub.topics)?;
    ctx.info(format!("hz: SUB {place}"));
    let window = usize::try_from(args.window).unwrap_or(usize::MAX);
    let start = Instant::now();
    let end = args.stop.duration.map(|d| start + d);
    let mut next = start + args.every;
    let mut topics: BTreeMap<String, Topic> = BTreeMap::new();
    let mut out = Out::stdout();
    // On a terminal the table is redrawn in place; into a file or a pipe, one after the other.
    let live = !args.json && std::io::stdout().is_terminal();
    if live {
        out.raw("\x1b[2J")?;
    }
    let mut n = 0;
    while !args.stop.done(n) {
        let deadline = end.map_or(next, |end| end.min(next));
        match net::recv(ctx, &socket, Some(deadline))? {
            Recv::Frames(frames) => {
                let at = Instant::now();
                let size = frames.iter().map(Vec::len).sum();
                // A frame that is not `<topic> <json>` is counted on a line of its own.
                let (topic, key) = match json::classify_sub(&frames) {
                    Received::Message { topic, .. } => (topic, topic.unwrap_or(MALFORMED)),
                    Received::Malformed { topic, .. } => (topic, MALFORMED),
                };
                if !args.sub.shows(topic) {
                    continue;
                }
                topics
                    .entry(key.to_owned())
                    .or_default()
                    .add(at, size, window);
                n += 1;
            }
            Recv::Stopped => break,
            Recv::Timeout => {
                if end.is_some_and(|end| Instant::now() >= end) {
                    break;
                }
                print(&mut out, &args, start, &topics, live)?;
                next += args.every;
            }
        }
    }
    print(&mut out, &args, start, &topics, live)
}

fn print(
    out: &mut Out,
    args: &HzArgs,
    start: Instant,
    topics: &BTreeMap<String, Topic>,
    live: bool,
) -> Result<()> {
    let elapsed = start.elapsed().as_secs_f64();
    if args.json {
        let report = JsonReport {
            elapsed: (elapsed * 1e3).round() / 1e3,
            topics: topics
                .iter()
                .map(|(k, t)| (k.as_str(), t.report()))
                .collect(),
        };
        return out.line(&json::render(&report, false)?);
    }
    if topics.is_empty() {
        let line = format!("[{elapsed:.1}s] no messages yet");
        return if live {
            crate::ctx::draw(out, &[line], true)
        } else {
            out.line(&line)
        };
    }
    let width = topics.keys().map(String::len).max().unwrap_or(0).max(5);
    let mut lines = vec![
        format!("[{elapsed:.1}s]"),
        format!(
            "{:<width$}  {:>10}  {:>10}  {:>9}  {:>9}  {:>6}  {:>8}",
            "topic", "rate (Hz)", "avg bytes", "min (s)", "max (s)", "window", "count"
        ),
    ];
    let opt = |v: Option<f64>, precision: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.precision$}"))
    };
    for (name, topic) in topics {
        let r = topic.report();
        lines.push(format!(
            "{name:<width$}  {:>10}  {:>10.0}  {:>9}  {:>9}  {:>6}  {:>8}",
            opt(r.rate, 3),
            r.avg_bytes,
            opt(r.min_interval, 4),
            opt(r.max_interval, 4),
            r.window,
            r.count
        ));
    }
    if live {
        crate::ctx::draw(out, &lines, true)
    } else {
        // As before: each table followed by one blank line.
        out.raw(&(lines.join("\n") + "\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn window_rate_and_sizes() {
        let mut topic = Topic::default();
        let t0 = Instant::now();
        for (i, size) in [10, 20, 30, 40].into_iter().enumerate() {
            topic.add(t0 + Duration::from_millis(100 * i as u64), size, 3);
        }
        let report = topic.report();
        assert_eq!(report.count, 4);
        assert_eq!(report.window, 3);
        assert_eq!(report.avg_bytes, 30.0);
        assert!((report.rate.unwrap() - 10.0).abs() < 1e-9);
        assert!((report.min_interval.unwrap() - 0.1).abs() < 1e-9);
        let mut one = Topic::default();
        one.add(t0, 5, 3);
        assert_eq!(one.report().rate, None);
    }
}
