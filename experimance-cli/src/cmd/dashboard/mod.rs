//! `dashboard ADDR...`: a web page of the installation, served by this binary.
//!
//! A collector thread listens at every ADDR (one SUB each, so a topic is known to come from
//! its ADDR, subscribed to everything and to the services' descriptions) and keeps a
//! [`model::Model`]. An HTTP server ([`server`], on a tokio runtime on this thread) serves the
//! page, its JSON API and a stream of snapshots (server-sent events). Ctrl-C / SIGTERM stops
//! both, within about two seconds.

mod model;
mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use experimance_runtime::DESCRIPTION_TOPIC;

use crate::cli::DashboardArgs;
use crate::ctx::{Ctx, TICK};
use crate::error::{CliError, Result};
use crate::net;

use model::{Dropped, Model};

/// The largest frame the dashboard takes, the services' own default: a peer sending a
/// larger one is disconnected by libzmq (and reconnected).
const MAX_MESSAGE_SIZE: i64 = 16 * 1024 * 1024;

/// How many messages libzmq queues per ADDR for the collector: with [`MAX_MESSAGE_SIZE`], a
/// bound on what a flood of large messages can hold.
const RECEIVE_QUEUE: i32 = 64;

/// The most bytes the collector reads from one ADDR before it looks at the others, the
/// clock and the flags.
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// How often warnings about dropped data may repeat.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Runs `dashboard`.
pub fn run(ctx: &Ctx, args: DashboardArgs) -> Result<()> {
    let mut sockets = Vec::with_capacity(args.addrs.len());
    for spec in &args.addrs {
        let (socket, place) = net::open_sub_with(ctx, std::slice::from_ref(spec), &[], |s| {
            s.set_maxmsgsize(MAX_MESSAGE_SIZE)?;
            s.set_rcvhwm(RECEIVE_QUEUE)?;
            s.set_subscribe(net::OBSERVER.as_bytes())?;
            // Asks every service there for its description (see `describe`).
            s.set_subscribe(DESCRIPTION_TOPIC.as_bytes())
        })?;
        ctx.info(format!("dashboard: SUB {place}"));
        sockets.push(socket);
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| CliError::runtime(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::runtime(format!("cannot listen on {}: {e}", args.listen)))?;
    let model = Arc::new(Mutex::new(Model::new(
        args.addrs.clone(),
        args.interval,
        args.missed,
    )));
    let url = format!("http://{local}/");
    ctx.info(format!("dashboard: {url}"));
    crate::ctx::Out::stdout().line(&url)?;

    // `done`: the server ended, the collector must too; `collected`: the collector ended (an
    // error), the server must too rather than serve stale data.
    let (done, collected) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|scope| {
        let (model, done, ended) = (&model, &done, &collected);
        let collector = scope.spawn(move || {
            let result = collect(ctx, &sockets, model, done);
            ended.store(true, Ordering::Relaxed);
            result
        });
        let app = server::App::new(Arc::clone(model), args.every, args.allow_hosts);
        let served = server::serve(ctx, listener, app, ended);
        done.store(true, Ordering::Relaxed);
        let collected = collector
            .join()
            .unwrap_or_else(|_| Err(CliError::runtime("the collector thread panicked")));
        served.and(collected)
    })
}

/// Reads every socket into the model until a stop is asked (Ctrl-C / SIGTERM, or `done`),
/// ticking the rates once a second and warning when data had to be dropped.
fn collect(
    ctx: &Ctx,
    sockets: &[zmq::Socket],
    model: &Mutex<Model>,
    done: &AtomicBool,
) -> Result<()> {
    /// At most this many messages per socket between two looks at the clock and the flags.
    const BATCH: usize = 1000;
    let mut next_tick = Instant::now();
    let mut warned = Dropped::default();
    let mut warned_at: Option<Instant> = None;
    while !ctx.stopped() && !done.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next_tick {
            let dropped = {
                let mut model = lock(model);
                model.tick(now);
                model.dropped()
            };
            next_tick = now + Duration::from_secs(1);
            if dropped != warned && warned_at.is_none_or(|at| now - at >= WARN_EVERY) {
                ctx.warn(format!(
                    "dashboard: left out to bound memory so far: {} message(s) on topics beyond \
                     {} or with names longer than {} bytes, {} from services beyond {} or with \
                     such names, {} description(s) beyond {} described services, too large or \
                     malformed",
                    dropped.topics,
                    model::MAX_TOPICS,
                    model::MAX_NAME_LEN,
                    dropped.services,
                    model::MAX_SERVICES,
                    dropped.descriptions,
                    model::MAX_DESCRIBED,
                ));
                warned = dropped;
                warned_at = Some(now);
            }
        }
        let wait = next_tick
            .saturating_duration_since(Instant::now())
            .min(TICK);
        let readable = net::readable(sockets, wait)?;
        for (addr, (socket, ready)) in sockets.iter().zip(readable).enumerate() {
            if !ready {
                continue;
            }
            // One message at a time, the model locked for each only: the HTTP side waits for
            // one message's work at most.
            let (mut count, mut bytes) = (0, 0);
            while count < BATCH && bytes < BATCH_BYTES {
                let frames = match socket.recv_multipart(zmq::DONTWAIT) {
                    Ok(frames) => frames,
                    Err(zmq::Error::EAGAIN) => break,
                    Err(zmq::Error::EINTR) => continue,
                    Err(e) => return Err(CliError::runtime(format!("receive failed: {e}"))),
                };
                count += 1;
                bytes += frames.iter().map(Vec::len).sum::<usize>();
                lock(model).take(addr, &frames, Instant::now());
            }
        }
    }
    Ok(())
}

/// Locks the model; a panic while it was held leaves it usable (each update is whole).
fn lock(model: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
    model
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
