//! The dashboard's HTTP side (axum): the page (its files compiled into the binary), the JSON
//! API and the event stream.
//!
//! | Route | Gives |
//! |---|---|
//! | `GET /` | the page (`/app.js`, `/style.css`) |
//! | `GET /api/snapshot` | everything: services, topics, edges, counts of what was left out |
//! | `GET /api/services` | the services |
//! | `GET /api/topics` | the topics |
//! | `GET /api/graph` | `{"nodes": [services], "edges": [...]}` |
//! | `GET /api/topics/{topic}/last` | the last message of a topic (404 before one came) |
//! | `GET /api/events` | server-sent events: a `snapshot` event at once, then every `--every` |
//!
//! Requests must name the dashboard by an IP address, `localhost`, or a name given with
//! `--allow-host` (`Host:`), so that a web page elsewhere cannot read the API through a DNS
//! name of its own rebound to the dashboard's address.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::watch;

use super::lock;
use super::model::Model;
use crate::ctx::{Ctx, TICK};
use crate::error::{CliError, Result};

/// After a stop is asked, open connections get this long to finish.
const GRACE: Duration = Duration::from_secs(2);

/// The page's files.
const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The page loads nothing from elsewhere and runs no inline script.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    model: Arc<Mutex<Model>>,
    every: Duration,
    /// Turns `true` when a stop is asked; ends the event streams.
    stop: watch::Receiver<bool>,
    stop_tx: Arc<watch::Sender<bool>>,
    /// The host names served besides IP addresses and `localhost`.
    hosts: Arc<Vec<String>>,
}

impl App {
    /// The state of a server over `model`, pushing a snapshot every `every`, serving
    /// requests for IP addresses, `localhost` and `hosts`.
    pub fn new(model: Arc<Mutex<Model>>, every: Duration, hosts: Vec<String>) -> App {
        let (stop_tx, stop) = watch::channel(false);
        App {
            model,
            every,
            stop,
            stop_tx: Arc::new(stop_tx),
            hosts: Arc::new(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect()),
        }
    }

    fn snapshot(&self) -> super::model::Snapshot {
        lock(&self.model).snapshot(Instant::now())
    }
}

/// Serves `app` on `listener` until Ctrl-C / SIGTERM, or until `ended` (the collector
/// stopped: its data would only grow stale).
pub fn serve(
    ctx: &Ctx,
    listener: std::net::TcpListener,
    app: App,
    ended: &AtomicBool,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the HTTP server: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError::runtime(format!("cannot start the HTTP server: {e}")))?;
    let stop_tx = Arc::clone(&app.stop_tx);
    let router = router(app);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| CliError::runtime(format!("cannot start the HTTP server: {e}")))?;
        // The server drains on the signal; `watch_stop` gives the signal on Ctrl-C /
        // SIGTERM, then bounds the drain (an open event stream ends by itself on it).
        let mut signal = stop_tx.subscribe();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = signal.wait_for(|stop| *stop).await;
        });
        let watch_stop = async {
            while !ctx.stopped() && !ended.load(Ordering::Relaxed) {
                tokio::time::sleep(TICK).await;
            }
            let _ = stop_tx.send(true);
            tokio::time::sleep(GRACE).await;
        };
        tokio::select! {
            served = server => served
                .map_err(|e| CliError::runtime(format!("the HTTP server failed: {e}"))),
            () = watch_stop => Ok(()),
        }
    })
}

/// The routes.
fn router(app: App) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/api/snapshot", get(snapshot))
        .route("/api/services", get(services))
        .route("/api/topics", get(topics))
        .route("/api/graph", get(graph))
        .route("/api/topics/{topic}/last", get(last))
        .route("/api/events", get(events))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn_with_state(app.clone(), known_host))
        .with_state(app)
}

/// Refuses requests whose `Host:` is not an IP address, `localhost` or an allowed name.
async fn known_host(State(app): State<App>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &app.hosts) {
        return error(
            StatusCode::FORBIDDEN,
            "this dashboard serves requests for an IP address, localhost, or a name given with \
             --allow-host",
        );
    }
    next.run(request).await
}

/// Whether `host` (a `Host:` value, with or without a port) is an IP address, `localhost`,
/// or one of `allowed` (lower case).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.to_ascii_lowercase();
    let ipv6 = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .is_some_and(|n| n.parse::<Ipv6Addr>().is_ok());
    ipv6 || name.parse::<IpAddr>().is_ok() || name == "localhost" || allowed.contains(&name)
}

/// A page file, with its type and the content security policy.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `value` as a JSON response.
fn json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// An error as JSON: `{"error": "..."}`.
fn error(status: StatusCode, message: &str) -> Response {
    let mut response = json(&serde_json::json!({ "error": message }));
    *response.status_mut() = status;
    response
}

async fn snapshot(State(app): State<App>) -> Response {
    json(&app.snapshot())
}

async fn services(State(app): State<App>) -> Response {
    json(&app.snapshot().services)
}

async fn topics(State(app): State<App>) -> Response {
    json(&app.snapshot().topics)
}

async fn graph(State(app): State<App>) -> Response {
    let snapshot = app.snapshot();
    json(&serde_json::json!({ "nodes": snapshot.services, "edges": snapshot.edges }))
}

async fn last(State(app): State<App>, Path(topic): Path<String>) -> Response {
    let last = lock(&app.model).last(&topic);
    match last {
        Some(last) => json(&last),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no message on topic {topic:?} yet"),
        ),
    }
}

/// A `snapshot` event at once, then one every `every`, until a stop is asked.
async fn events(State(app): State<App>) -> Response {
    let stream = futures_util::stream::unfold((app, true), |(mut app, first)| async move {
        if !first {
            let every = app.every;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                changed = app.stop.changed() => if changed.is_err() { return None },
            }
        }
        if *app.stop.borrow() {
            return None;
        }
        let event = match serde_json::to_string(&app.snapshot()) {
            Ok(data) => Event::default().event("snapshot").data(data),
            Err(e) => Event::default().event("error").data(e.to_string()),
        };
        Some((Ok::<_, Infallible>(event), (app, false)))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_served() {
        let allowed = vec!["gallery.local".to_owned()];
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "10.1.2.3:80",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "[fe80::1]",
            "gallery.local:8080",
            "Gallery.Local",
        ] {
            assert!(host_allowed(host, &allowed), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "",
            "127.0.0.1.evil.example",
            "[::1",
        ] {
            assert!(!host_allowed(host, &allowed), "{host}");
        }
    }
}
