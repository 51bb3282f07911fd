//! `pull ADDR`: print the tasks that arrive on a PULL socket.

use std::time::Instant;

use experimance_runtime::Role;

use crate::cli::PullArgs;
use crate::ctx::{Ctx, Out};
use crate::error::Result;
use crate::json::{self, Json, MalformedLine, MessageLine, Received};
use crate::net::{self, Recv};

/// Runs `pull`.
pub fn run(ctx: &Ctx, args: PullArgs) -> Result<()> {
    let opened = net::open(ctx, zmq::PULL, "PULL", Role::Pull, &args.addr, |s, _| {
        s.set_linger(0)
    })?;
    ctx.info(format!("pull: PULL {}", opened.describe()));
    let deadline = args.stop.duration.map(|d| Instant::now() + d);
    let mut out = Out::stdout();
    let mut n = 0;
    while !args.stop.done(n) {
        let frames = match net::recv(ctx, &opened.socket, deadline)? {
            Recv::Frames(frames) => frames,
            Recv::Timeout | Recv::Stopped => break,
        };
        let line = match json::classify_pull(&frames) {
            Received::Message { json, .. } => json::render(
                &MessageLine {
                    t: None,
                    topic: None,
                    message: Json::new(json, args.pretty),
                },
                args.pretty,
            )?,
            Received::Malformed { reason, topic } => {
                json::render(&MalformedLine::shown(&reason, topic, &frames), args.pretty)?
            }
        };
        out.line(&line)?;
        n += 1;
    }
    Ok(())
}
