//! `proxy --xsub ADDR --xpub ADDR`: ZeroMQ's XSUB/XPUB forwarder.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use experimance_runtime::Role;

use crate::cli::ProxyArgs;
use crate::ctx::{Ctx, TICK};
use crate::error::{CliError, Result};
use crate::net;

/// Runs `proxy` until Ctrl-C / SIGTERM.
pub fn run(ctx: &Ctx, args: ProxyArgs) -> Result<()> {
    // Both sides are server ends by default: publishers and subscribers connect to them.
    let mut xsub = net::open(ctx, zmq::XSUB, "XSUB", Role::Pub, &args.xsub, |s, _| {
        s.set_linger(0)
    })?;
    let mut xpub = net::open(ctx, zmq::XPUB, "XPUB", Role::Pub, &args.xpub, |s, _| {
        s.set_linger(0)?;
        // Pass every subscriber's subscription upstream, duplicates included, so that
        // publishers waiting for N subscribers (`publish --subscribers N`) see them all.
        s.set_xpub_verbose(true)
    })?;
    ctx.info(format!(
        "proxy: XSUB (publishers connect) {}; XPUB (subscribers connect) {}",
        xsub.describe(),
        xpub.describe()
    ));

    // The proxy runs in a thread, steered through an inproc socket so that a stop request
    // ends it cleanly.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let control_address = format!(
        "inproc://experimance-proxy-control-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let control = ctx
        .zmq
        .socket(zmq::PAIR)
        .and_then(|s| s.bind(&control_address).map(|()| s))
        .map_err(|e| CliError::runtime(format!("cannot open proxy control socket: {e}")))?;
    let mut steer = ctx
        .zmq
        .socket(zmq::PAIR)
        .and_then(|s| s.connect(&control_address).map(|()| s))
        .map_err(|e| CliError::runtime(format!("cannot open proxy control socket: {e}")))?;

    let started = Instant::now();
    let proxy = std::thread::spawn(move || loop {
        match zmq::proxy_steerable(&mut xsub.socket, &mut xpub.socket, &mut steer) {
            // A signal may interrupt libzmq's poll in this thread: go on until told to stop.
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    });
    while !ctx.stopped() && !proxy.is_finished() {
        std::thread::sleep(TICK);
    }
    if !proxy.is_finished() {
        control
            .send("TERMINATE", 0)
            .map_err(|e| CliError::runtime(format!("cannot stop the proxy: {e}")))?;
    }
    let result = proxy
        .join()
        .map_err(|_| CliError::runtime("the proxy thread panicked"))?;
    result.map_err(|e| CliError::runtime(format!("proxy failed: {e}")))?;
    ctx.info(format!(
        "proxy stopped after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
