//! `publish ADDR TOPIC JSON`: publish on a topic as a PUB socket.

use std::time::Duration;

use experimance_runtime::wire::{check_topic, encode_frame};
use serde_json::value::RawValue;

use crate::cli::{PubOpts, PublishArgs};
use crate::cmd::for_each_message;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::{json, net};

/// Runs `publish`.
pub fn run(ctx: &Ctx, args: PublishArgs) -> Result<()> {
    check_topic(&args.topic).map_err(|e| CliError::usage(e.to_string()))?;
    if args.json != "-" {
        // Bad JSON is reported before any socket is opened.
        json::message(&args.json, "the JSON argument")?;
    }
    let linger = Duration::from_millis(args.publish.linger_ms);
    let opened = net::open_xpub(ctx, &args.addr, linger)?;
    ctx.info(format!("publish: PUB {}", opened.describe()));

    let head = format!("{} ", args.topic);
    let what = format!("topic `{}`", args.topic);
    let mut waited = false;
    let mut frame = Vec::new();
    let sent = for_each_message(ctx, &args.json, |message| {
        if !waited {
            waited = true;
            await_subscribers(ctx, &opened.socket, &args.publish, &what, |prefix| {
                net::prefix_matches(prefix, head.as_bytes())
            })?;
            if ctx.stopped() {
                return Ok(false);
            }
        }
        let raw: &RawValue =
            serde_json::from_str(message).map_err(|e| CliError::usage(format!("bad JSON: {e}")))?;
        encode_frame(&mut frame, Some(&args.topic), &args.topic, raw)
            .map_err(|e| CliError::usage(e.to_string()))?;
        net::publish(&opened.socket, &frame)?;
        net::drain(&opened.socket);
        Ok(true)
    })?;
    ctx.info(format!("published {sent} message(s) on {what}"));
    Ok(())
}

/// Waits for `opts.subscribers` subscriptions accepted by `matches`, at most
/// `opts.wait_ms`; warns when they did not all come (the messages are published anyway).
pub fn await_subscribers(
    ctx: &Ctx,
    socket: &zmq::Socket,
    opts: &PubOpts,
    what: &str,
    matches: impl Fn(&[u8]) -> bool,
) -> Result<()> {
    if opts.wait_ms == 0 || opts.subscribers == 0 {
        return Ok(());
    }
    let wait = Duration::from_millis(opts.wait_ms);
    let seen = net::wait_subscribers(ctx, socket, opts.subscribers, wait, matches)?;
    if ctx.stopped() {
        return Ok(());
    }
    if seen < opts.subscribers {
        ctx.warn(format!(
            "{seen} of {} subscriber(s) for {what} after {} ms; publishing anyway \
             (a PUB drops what no subscriber takes)",
            opts.subscribers, opts.wait_ms
        ));
    } else {
        ctx.info(format!("{seen} subscriber(s) for {what}"));
    }
    Ok(())
}
