//! `push ADDR JSON`: push a task to a PULL socket.

use std::time::Duration;

use experimance_runtime::{Direction, Role};

use crate::cli::PushArgs;
use crate::cmd::for_each_message;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::json;
use crate::net::{self, Sent};

/// Runs `push`.
pub fn run(ctx: &Ctx, args: PushArgs) -> Result<()> {
    if args.json != "-" {
        json::message(&args.json, "the JSON argument")?;
    }
    let linger = net::linger_ms(Duration::from_millis(args.linger_ms));
    let opened = net::open(
        ctx,
        zmq::PUSH,
        "PUSH",
        Role::Push,
        &args.addr,
        |s, direction| {
            s.set_linger(linger)?;
            if direction == Direction::Connect {
                // Be writable only once the connection is up, so that "no peer" is an error
                // rather than a message queued for nobody.
                s.set_immediate(true)?;
            }
            Ok(())
        },
    )?;
    ctx.info(format!("push: PUSH {}", opened.describe()));
    let timeout = Duration::from_millis(args.timeout_ms);
    let sent = for_each_message(ctx, &args.json, |message| {
        match net::send_ready(ctx, &opened.socket, message.as_bytes(), timeout)? {
            Sent::Yes => Ok(true),
            Sent::Stopped => Ok(false),
            Sent::Timeout => Err(CliError::runtime(format!(
                "no PULL peer took the message within {} ms on {}",
                args.timeout_ms, opened.address
            ))),
        }
    })?;
    ctx.info(format!("pushed {sent} message(s)"));
    Ok(())
}
