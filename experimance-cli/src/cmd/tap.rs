//! `tap ADDR`: subscribe and print every message as a JSON line.

use std::time::Instant;

use crate::cli::TapArgs;
use crate::ctx::{Ctx, Out};
use crate::error::Result;
use crate::json::{self, Json, MalformedLine, MessageLine, Received};
use crate::net::{self, Recv};

/// Runs `tap`.
pub fn run(ctx: &Ctx, args: TapArgs) -> Result<()> {
    let (socket, place) = net::open_sub(ctx, &args.addrs, &args.sub.topics)?;
    ctx.info(format!("tap: SUB {place}"));
    let deadline = args.stop.duration.map(|d| Instant::now() + d);
    let mut out = Out::stdout();
    let mut n = 0;
    while !args.stop.done(n) {
        let frames = match net::recv(ctx, &socket, deadline)? {
            Recv::Frames(frames) => frames,
            Recv::Timeout | Recv::Stopped => break,
        };
        let line = match json::classify_sub(&frames) {
            Received::Message { topic, json } => {
                if !args.sub.shows(topic) {
                    continue;
                }
                json::render(
                    &MessageLine {
                        t: None,
                        topic,
                        message: Json::new(json, args.pretty),
                    },
                    args.pretty,
                )?
            }
            Received::Malformed { reason, topic } => {
                if !args.sub.shows(topic) {
                    continue;
                }
                json::render(&MalformedLine::shown(&reason, topic, &frames), args.pretty)?
            }
        };
        out.line(&line)?;
        n += 1;
    }
    Ok(())
}
