//! One module per subcommand, each with `run(&Ctx, Args) -> Result<()>`.

pub mod check;
pub mod codegen;
pub mod dashboard;
pub mod describe;
pub mod hz;
pub mod keygen;
pub mod proxy;
pub mod publish;
pub mod pull;
pub mod push;
pub mod record;
pub mod replay;
pub mod services;
pub mod tap;
pub mod topics;
pub mod watch;

use std::io::BufRead;
use std::sync::mpsc;

use crate::ctx::{Ctx, TICK};
use crate::error::{CliError, Result};
use crate::json;

/// The messages of `publish` and `push`: the JSON argument, or one per stdin line for `-`
/// (blank lines skipped), each checked as it comes. Calls `send` for each and stops early
/// when it returns `false` or on Ctrl-C / SIGTERM. Returns how many were sent.
pub fn for_each_message(
    ctx: &Ctx,
    json_arg: &str,
    mut send: impl FnMut(&str) -> Result<bool>,
) -> Result<u64> {
    if json_arg != "-" {
        let message = json::message(json_arg, "the JSON argument")?;
        return Ok(u64::from(send(message)?));
    }
    // A thread reads stdin so that a stop request is seen while no line comes.
    let (tx, rx) = mpsc::sync_channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let end = line.is_err();
            if tx.send(line).is_err() || end {
                return;
            }
        }
    });
    let mut sent = 0;
    let mut number = 0;
    loop {
        if ctx.stopped() {
            return Ok(sent);
        }
        let line = match rx.recv_timeout(TICK) {
            Ok(line) => line.map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(sent),
        };
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let message = json::message(&line, &format!("stdin line {number}"))?;
        if !send(message)? {
            return Ok(sent);
        }
        sent += 1;
    }
}
