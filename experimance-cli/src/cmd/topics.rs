//! `topics ADDR...`: the topics published at those endpoints, seen for a while, with their
//! publishers, rates and sizes (like `ros2 topic list -v` with `hz`).

use std::collections::BTreeMap;
use std::time::Instant;

use experimance_runtime::Untrusted;
use serde::Serialize;

use crate::cli::TopicsArgs;
use crate::ctx::{Ctx, Out};
use crate::error::{CliError, Result};
use crate::json::{self, Received};
use crate::net;

/// What was seen of one topic.
#[derive(Default, Serialize)]
struct Seen {
    /// The ADDRs it came from.
    publishers: Vec<String>,
    count: u64,
    bytes: u64,
    /// Messages per second over the time listened.
    rate: f64,
    avg_bytes: f64,
}

/// Runs `topics`.
pub fn run(ctx: &Ctx, args: TopicsArgs) -> Result<()> {
    // One SUB per ADDR, so each message is known to come from its ADDR.
    let mut sockets = Vec::new();
    for spec in &args.addrs {
        let (socket, place) = net::open_observer(ctx, std::slice::from_ref(spec), &[])?;
        ctx.info(format!("topics: SUB {place}"));
        sockets.push((spec.clone(), socket));
    }
    let start = Instant::now();
    let end = start + args.duration;
    let mut topics: BTreeMap<String, Seen> = BTreeMap::new();
    while !ctx.stopped() {
        let Some(left) = end
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            break;
        };
        let readable = net::readable(sockets.iter().map(|(_, s)| s), left.min(crate::ctx::TICK))?;
        for ((spec, socket), ready) in sockets.iter().zip(readable) {
            if !ready {
                continue;
            }
            while let Ok(frames) = socket.recv_multipart(zmq::DONTWAIT) {
                let topic = match json::classify_sub(&frames) {
                    Received::Message {
                        topic: Some(topic), ..
                    } => topic.to_owned(),
                    _ => "<malformed>".to_owned(),
                };
                let seen = topics.entry(topic).or_default();
                seen.count += 1;
                seen.bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
                if !seen.publishers.contains(spec) {
                    seen.publishers.push(spec.clone());
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    for seen in topics.values_mut() {
        seen.rate = (seen.count as f64 / elapsed * 100.0).round() / 100.0;
        seen.avg_bytes = (seen.bytes as f64 / seen.count as f64).round();
    }
    let mut out = Out::stdout();
    if args.json {
        out.line(&json::render(&topics, false)?)?;
    } else if !topics.is_empty() {
        let width = topics
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        out.line(&format!(
            "{:<width$}  {:>9}  {:>9}  {:>7}  publishers",
            "topic", "rate (Hz)", "avg bytes", "count"
        ))?;
        for (topic, seen) in &topics {
            out.line(&format!(
                "{:<width$}  {:>9.2}  {:>9.0}  {:>7}  {}",
                Untrusted::str(topic).to_string(),
                seen.rate,
                seen.avg_bytes,
                seen.count,
                seen.publishers.join(", ")
            ))?;
        }
    }
    if topics.is_empty() && !ctx.stopped() {
        return Err(CliError::runtime(format!(
            "no message within {:.1}s from {}",
            args.duration.as_secs_f64(),
            args.addrs.join(", ")
        )));
    }
    Ok(())
}
