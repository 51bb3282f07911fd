/// Installs a `tracing` subscriber that prints to stderr, filtered by `RUST_LOG` (default
/// `info`). Call it once at the top of `main`; a second call does nothing.
///
/// ```
/// experimance_runtime::init_logging();
/// tracing::info!("services log through `tracing`");
/// ```
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
