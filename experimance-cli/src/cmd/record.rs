//! `record ADDR FILE`: write what a publisher sends into a JSON-lines file with timestamps.

use std::time::Instant;

use crate::cli::RecordArgs;
use crate::ctx::{Ctx, Out};
use crate::error::Result;
use crate::json::{self, Json, MalformedLine, MessageLine, Received};
use crate::net::{self, Recv};

/// Runs `record`.
pub fn run(ctx: &Ctx, args: RecordArgs) -> Result<()> {
    let (socket, place) = net::open_sub(ctx, &args.addrs, &args.sub.topics)?;
    let mut out = Out::create(&args.file)?;
    ctx.info(format!("record: SUB {place}; writing to {}", args.file));
    let start = Instant::now();
    let deadline = args.stop.duration.map(|d| start + d);
    let mut n = 0;
    while !args.stop.done(n) {
        let frames = match net::recv(ctx, &socket, deadline)? {
            Recv::Frames(frames) => frames,
            Recv::Timeout | Recv::Stopped => break,
        };
        // Microseconds are plenty, and keep the file readable.
        let t = (start.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let line = match json::classify_sub(&frames) {
            Received::Message { topic, json } => {
                if !args.sub.shows(topic) {
                    continue;
                }
                json::render(
                    &MessageLine {
                        t: Some(t),
                        topic,
                        message: Json::new(json, false),
                    },
                    false,
                )?
            }
            Received::Malformed { reason, topic } => {
                if !args.sub.shows(topic) {
                    continue;
                }
                json::render(&MalformedLine::recorded(t, &reason, &frames), false)?
            }
        };
        out.line(&line)?;
        n += 1;
    }
    ctx.info(format!("recorded {n} message(s) to {}", args.file));
    Ok(())
}
