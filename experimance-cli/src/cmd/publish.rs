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
    if let Some(topic) = args.topic() {
        check_topic(topic).map_err(|e| CliError::usage(e.to_string()))?;
    }
    let json_arg = args.json().to_owned();
    if json_arg != "-" {
        // Bad JSON, or no topic to send it on, is reported before any socket is opened.
        let message = json::message(&json_arg, "the JSON argument")?;
        topic_of(args.topic(), message)?;
    }
    let linger = Duration::from_millis(args.publish.linger_ms);
    let opened = net::open_xpub(ctx, &args.addr, linger)?;
    ctx.info(format!("publish: PUB {}", opened.describe()));

    let mut waited = false;
    let mut frame = Vec::new();
    let mut pace = args.rate.map(Pace::new);
    let mut topics: Vec<String> = Vec::new();
    let mut send = |message: &str| -> Result<bool> {
        let topic = topic_of(args.topic(), message)?;
        if !waited {
            waited = true;
            let head = format!("{topic} ");
            await_subscribers(
                ctx,
                &opened.socket,
                &args.publish,
                &format!("topic `{topic}`"),
                |prefix| net::prefix_matches(prefix, head.as_bytes()),
            )?;
        }
        if let Some(pace) = &mut pace {
            if !pace.wait(ctx) {
                return Ok(false);
            }
        }
        if ctx.stopped() {
            return Ok(false);
        }
        let raw: &RawValue =
            serde_json::from_str(message).map_err(|e| CliError::usage(format!("bad JSON: {e}")))?;
        encode_frame(&mut frame, Some(&topic), &topic, raw)
            .map_err(|e| CliError::usage(e.to_string()))?;
        net::publish(&opened.socket, &frame)?;
        net::drain(&opened.socket);
        if !topics.contains(&topic) {
            topics.push(topic);
        }
        Ok(true)
    };
    let sent = match (args.rate, json_arg.as_str()) {
        // One message, again and again.
        (Some(_), json) if json != "-" => {
            let message = json::message(json, "the JSON argument")?;
            let mut sent = 0;
            while args.count.is_none_or(|n| sent < n) && send(message)? {
                sent += 1;
            }
            sent
        }
        _ => {
            let mut sent = 0;
            for_each_message(ctx, &json_arg, |message| {
                if args.count.is_some_and(|n| sent >= n) {
                    return Ok(false);
                }
                let more = send(message)?;
                sent += u64::from(more);
                Ok(more)
            })?
        }
    };
    ctx.info(format!(
        "published {sent} message(s) on {}",
        match topics.as_slice() {
            [] => "no topic".to_owned(),
            topics => format!("topic(s) {}", topics.join(", ")),
        }
    ));
    Ok(())
}

/// The topic of `message`: the one given, else its `"type"`.
fn topic_of(given: Option<&str>, message: &str) -> Result<String> {
    if let Some(topic) = given {
        return Ok(topic.to_owned());
    }
    let topic = experimance_runtime::wire_type_of(message).ok_or_else(|| {
        CliError::usage(
            "no TOPIC given and the message has no string \"type\" to take it from: `publish ADDR TOPIC JSON`",
        )
    })?;
    check_topic(&topic).map_err(|e| CliError::usage(format!("the message's \"type\": {e}")))?;
    Ok(topic.into_owned())
}

/// Sends at a steady rate: each message waits for its moment (no catching up in bursts
/// after a stall).
struct Pace {
    period: Duration,
    next: Option<std::time::Instant>,
}

impl Pace {
    fn new(hz: f64) -> Pace {
        Pace {
            period: Duration::from_secs_f64(1.0 / hz),
            next: None,
        }
    }

    /// Waits until the next message is due; `false` on Ctrl-C / SIGTERM.
    fn wait(&mut self, ctx: &Ctx) -> bool {
        let now = std::time::Instant::now();
        let due = self.next.unwrap_or(now);
        while let Some(left) = due.checked_duration_since(std::time::Instant::now()) {
            if left.is_zero() {
                break;
            }
            if ctx.stopped() {
                return false;
            }
            std::thread::sleep(left.min(crate::ctx::TICK));
        }
        self.next = Some(due.max(now) + self.period);
        !ctx.stopped()
    }
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
