//! `experimance`: tap, publish, push, pull, hz, record, replay, watch, dashboard, proxy, describe,
//! check, codegen and keygen for services that speak the Experimance wire protocol (see the crate's README).

mod cli;
mod cmd;
mod ctx;
mod error;
mod json;
mod net;
mod observe;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK};

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) | Err(CliError::Closed) => EXIT_OK,
        Err(e) => {
            eprintln!("experimance: error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> error::Result<()> {
    let ctx = Ctx::new(cli.quiet)?;
    match cli.command {
        Command::Tap(args) => cmd::tap::run(&ctx, args),
        Command::Publish(args) => cmd::publish::run(&ctx, args),
        Command::Push(args) => cmd::push::run(&ctx, args),
        Command::Pull(args) => cmd::pull::run(&ctx, args),
        Command::Hz(args) => cmd::hz::run(&ctx, args),
        Command::Record(args) => cmd::record::run(&ctx, args),
        Command::Replay(args) => cmd::replay::run(&ctx, args),
        Command::Watch(args) => cmd::watch::run(&ctx, args),
        Command::Dashboard(args) => cmd::dashboard::run(&ctx, args),
        Command::Proxy(args) => cmd::proxy::run(&ctx, args),
        Command::Describe(args) => cmd::describe::run(&ctx, args),
        Command::Check(args) => cmd::check::run(&ctx, args),
        Command::Codegen(args) => cmd::codegen::run(&ctx, args),
        Command::Keygen(args) => cmd::keygen::run(&ctx, args),
        Command::Topics(args) => cmd::topics::run(&ctx, args),
        Command::Services(args) => cmd::services::run(&ctx, args),
    }
}
