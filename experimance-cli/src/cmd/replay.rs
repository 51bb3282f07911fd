//! `replay FILE ADDR`: publish a recording again with its original timing.

use std::time::{Duration, Instant};

use experimance_runtime::wire::check_topic;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cli::ReplayArgs;
use crate::cmd::publish::await_subscribers;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::{json, net};

/// One line of a recording, as `record` writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    t: f64,
    topic: Option<String>,
    message: Option<Box<RawValue>>,
    malformed: Option<String>,
    raw: Option<String>,
    raw_hex: Option<String>,
}

/// A recorded message: when, and the exact frame.
struct Recorded {
    t: f64,
    frame: Vec<u8>,
}

/// Runs `replay`.
pub fn run(ctx: &Ctx, args: ReplayArgs) -> Result<()> {
    let recording = load(&args.file)?;
    if recording.is_empty() {
        ctx.warn(format!("{}: nothing to replay", args.file));
        return Ok(());
    }
    let linger = Duration::from_millis(args.publish.linger_ms);
    let opened = net::open_xpub(ctx, &args.addr, linger)?;
    ctx.info(format!(
        "replay: PUB {}; {} message(s) at speed {}",
        opened.describe(),
        recording.len(),
        args.speed
    ));
    await_subscribers(
        ctx,
        &opened.socket,
        &args.publish,
        "the recorded topics",
        |prefix| recording.iter().any(|r| r.frame.starts_with(prefix)),
    )?;

    let start = Instant::now();
    let t0 = recording[0].t;
    let mut sent = 0;
    for recorded in &recording {
        let offset = ((recorded.t - t0) / args.speed).max(0.0);
        let at = Duration::try_from_secs_f64(offset)
            .ok()
            .and_then(|d| start.checked_add(d))
            .unwrap_or(start);
        if !ctx.sleep_until(at) {
            break;
        }
        net::publish(&opened.socket, &recorded.frame)?;
        net::drain(&opened.socket);
        sent += 1;
    }
    ctx.info(format!(
        "replayed {sent} message(s) in {:.3} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Reads and checks a whole recording before anything is sent.
fn load(path: &str) -> Result<Vec<Recorded>> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| CliError::usage(format!("cannot read `{path}`: {e}")))?;
    let mut recording = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| CliError::usage(format!("{path}:{}: {why}", i + 1));
        let parsed: Line =
            serde_json::from_str(line).map_err(|e| bad(format!("not a recorded message: {e}")))?;
        if !parsed.t.is_finite() || parsed.t < 0.0 {
            return Err(bad(format!("bad time {}", parsed.t)));
        }
        let frame = match parsed {
            Line {
                topic: Some(topic),
                message: Some(message),
                malformed: None,
                raw: None,
                raw_hex: None,
                ..
            } => {
                check_topic(&topic).map_err(|e| bad(e.to_string()))?;
                format!("{topic} {}", message.get()).into_bytes()
            }
            Line {
                topic: None,
                message: None,
                raw: Some(raw),
                raw_hex: None,
                ..
            } => raw.into_bytes(),
            Line {
                topic: None,
                message: None,
                raw: None,
                raw_hex: Some(hex),
                ..
            } => json::unhex(&hex).ok_or_else(|| bad("`raw_hex` is not hex".to_owned()))?,
            _ => {
                return Err(bad(
                    "expected `topic` and `message`, or `raw` / `raw_hex`".to_owned()
                ))
            }
        };
        recording.push(Recorded { t: parsed.t, frame });
    }
    Ok(recording)
}
