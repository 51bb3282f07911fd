use std::ffi::OsString;
use std::io::IsTerminal;

/// Installs a `tracing` subscriber that prints to stderr, filtered by `RUST_LOG` (default
/// `info`). Call it once at the top of `main`; a second call does nothing.
///
/// Lines are coloured only when stderr is a terminal and the `NO_COLOR` environment variable
/// is unset or empty: a log redirected to a file or a pipe holds no escape codes.
///
/// ```
/// experimance_runtime::init_logging();
/// tracing::info!("services log through `tracing`");
/// ```
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Whether to colour the log: only on a terminal, and not when `NO_COLOR` is set to
/// something.
fn colour(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
        assert!(!colour(false, Some("".into())));
    }
}
