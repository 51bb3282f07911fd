//! `describe ADDR...`: ask running services for their description and print it.
//!
//! A service with a PUB socket publishes its [`ServiceDescription`] on
//! [`DESCRIPTION_TOPIC`] with its next heartbeat after a subscriber subscribes to exactly that
//! topic. Every ADDR gets a SUB socket of its own, so each answer is known to come from its
//! ADDR; all are asked at once, so the wait is one heartbeat interval, not one per service.

use std::time::Instant;

use experimance_runtime::{Role, ServiceDescription, Untrusted, DESCRIPTION_TOPIC};

use crate::cli::DescribeArgs;
use crate::ctx::{Ctx, Out, TICK};
use crate::error::{CliError, Result};
use crate::json::{self, Json, Received};
use crate::net;

/// One asked service.
struct Asked {
    spec: String,
    socket: zmq::Socket,
    /// The description as received (compact JSON text), once it came.
    answer: Option<String>,
    /// Its service name, once it came.
    name: String,
}

/// Runs `describe`.
pub fn run(ctx: &Ctx, args: DescribeArgs) -> Result<()> {
    let Some(asked) = ask(ctx, &args.addrs, args.timeout)? else {
        return Ok(());
    };
    print(ctx, &asked, &args)
}

/// The description of every service of `addrs` (their PUB endpoints), all asked at once;
/// `None` after Ctrl-C / SIGTERM. An error names the services that did not answer within
/// `timeout`.
pub fn descriptions(
    ctx: &Ctx,
    addrs: &[String],
    timeout: std::time::Duration,
) -> Result<Option<Vec<ServiceDescription>>> {
    let Some(asked) = ask(ctx, addrs, timeout)? else {
        return Ok(None);
    };
    asked
        .iter()
        .map(|a| {
            serde_json::from_str(a.answer.as_deref().unwrap_or("null"))
                .map_err(|e| CliError::runtime(format!("`{}`: {e}", a.spec)))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn ask(ctx: &Ctx, addrs: &[String], timeout: std::time::Duration) -> Result<Option<Vec<Asked>>> {
    let mut asked = Vec::with_capacity(addrs.len());
    let mut places = Vec::new();
    for spec in addrs {
        let opened = net::open(ctx, zmq::SUB, "SUB", Role::Sub, spec, |s, _| {
            s.set_linger(0)?;
            s.set_subscribe(DESCRIPTION_TOPIC.as_bytes())
        })?;
        places.push(opened.describe());
        asked.push(Asked {
            spec: spec.clone(),
            socket: opened.socket,
            answer: None,
            name: String::new(),
        });
    }
    ctx.info(format!(
        "describe: SUB {}; waiting up to {:.1}s for {} description(s)",
        places.join(", "),
        timeout.as_secs_f64(),
        asked.len()
    ));

    let deadline = Instant::now() + timeout;
    while asked.iter().any(|a| a.answer.is_none()) {
        if ctx.stopped() {
            return Ok(None);
        }
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            return Err(timed_out(&asked, timeout));
        };
        let waiting: Vec<usize> = (0..asked.len())
            .filter(|&i| asked[i].answer.is_none())
            .collect();
        let ready = net::readable(waiting.iter().map(|&i| &asked[i].socket), left.min(TICK))?;
        for (i, ready) in waiting.into_iter().zip(ready) {
            if ready {
                take(&mut asked[i])?;
            }
        }
    }
    Ok(Some(asked))
}

fn print(ctx: &Ctx, asked: &[Asked], args: &DescribeArgs) -> Result<()> {
    let pretty = args.pretty;
    let answers: Vec<Json<'_>> = asked
        .iter()
        .map(|a| Json::new(a.answer.as_deref().unwrap_or("null"), pretty))
        .collect();
    match &args.out {
        None => {
            let mut out = Out::stdout();
            for answer in &answers {
                out.line(&json::render(answer, pretty)?)?;
            }
        }
        Some(path) => {
            let text = match answers.as_slice() {
                [one] => json::render(one, pretty)?,
                all => json::render(&all, pretty)?,
            };
            Out::create(path)?.line(&text)?;
            // Names come from peers: escaped, they cannot steer the terminal.
            let names: Vec<String> = asked
                .iter()
                .map(|a| Untrusted::str(&a.name).to_string())
                .collect();
            ctx.info(format!(
                "describe: wrote {} into `{path}`",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// Reads what is queued on `asked`'s socket, keeping the first description.
fn take(asked: &mut Asked) -> Result<()> {
    loop {
        let frames = match asked.socket.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN) => return Ok(()),
            Err(zmq::Error::EINTR) => continue,
            Err(e) => return Err(CliError::runtime(format!("receive failed: {e}"))),
        };
        // The subscription is a prefix: `experimance.descriptions` would pass it too.
        let text = match json::classify_sub(&frames) {
            Received::Message {
                topic: Some(DESCRIPTION_TOPIC),
                json,
            } => json,
            Received::Malformed {
                reason,
                topic: Some(DESCRIPTION_TOPIC),
            } => {
                return Err(CliError::runtime(format!(
                    "`{}` sent a malformed description: {reason}",
                    asked.spec
                )))
            }
            _ => continue,
        };
        let description: ServiceDescription = serde_json::from_str(text).map_err(|e| {
            CliError::runtime(format!(
                "`{}` sent something that is not a service description: {e}",
                asked.spec
            ))
        })?;
        asked.name = description.name;
        asked.answer = Some(text.to_owned());
        return Ok(());
    }
}

/// The error of a run in which some services did not answer in time.
fn timed_out(asked: &[Asked], timeout: std::time::Duration) -> CliError {
    let silent: Vec<String> = asked
        .iter()
        .filter(|a| a.answer.is_none())
        .map(|a| format!("`{}`", a.spec))
        .collect();
    let answered: Vec<String> = asked
        .iter()
        .filter(|a| a.answer.is_some())
        .map(|a| format!("`{}` ({})", a.spec, Untrusted::str(&a.name)))
        .collect();
    let mut message = format!(
        "no description from {} within {:.1}s (is it the PUB socket of a running service \
         built with experimance? a service answers with its next heartbeat, or within a second \
         when its heartbeats are off: try a --timeout above its heartbeat interval)",
        silent.join(", "),
        timeout.as_secs_f64()
    );
    if !answered.is_empty() {
        message.push_str(&format!(
            "; {} answered, but nothing is printed unless all do",
            answered.join(", ")
        ));
    }
    CliError::runtime(message)
}
