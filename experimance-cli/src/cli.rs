//! The command line, declared with clap. Every subcommand has its own module in `cmd/`; a
//! new one is a variant here, an `Args` struct and a module.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Addresses: a ZeroMQ endpoint such as tcp://localhost:5555, tcp://*:5555 or ipc:///tmp/feed.
Prefix it with `@` to bind or `>` to connect (quote `>` in a shell). Without a prefix, each
socket does what the Python services do: PUB and PUSH bind (publish, push, replay, proxy),
SUB and PULL connect (tap, pull, hz, record, watch, describe).

Exit status: 0 done (also after Ctrl-C / SIGTERM, or when stdout is closed),
1 runtime or network error (address in use, no peer in time, I/O error),
2 usage or bad input (bad flag, bad address, bad JSON, bad topic, bad FILE).
`check` exits 1 when it finds problems, 0 when there are none.
A second Ctrl-C while finishing exits at once with 130.";

/// Look at and talk to services that speak the Experimance wire protocol over ZeroMQ.
#[derive(Debug, Parser)]
#[command(name = "experimance", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print nothing on stderr but warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Subscribe and print every message as one JSON line: {"topic": ..., "message": ...}.
    Tap(TapArgs),
    /// Publish a message (or one per stdin line) on a topic, as a PUB socket.
    Publish(PublishArgs),
    /// Push a message (or one per stdin line) to a PULL socket.
    Push(PushArgs),
    /// Pull messages and print each as one JSON line: {"message": ...}.
    Pull(PullArgs),
    /// Show message rate and size per topic, every second (like `ros2 topic hz`).
    Hz(HzArgs),
    /// Record what a PUB socket publishes into a JSON-lines file, with timestamps.
    Record(RecordArgs),
    /// Publish a recording again, with its original timing (scaled by --speed).
    Replay(ReplayArgs),
    /// Live table of the services whose heartbeats arrive: state, liveness, rates.
    Watch(WatchArgs),
    /// Serve a live web page of the installation: a graph of the services and the topics
    /// and task queues between them, per-topic rates and last messages, per-service health
    /// and counts, and the same as JSON under /api/.
    Dashboard(DashboardArgs),
    /// Forward between many publishers and subscribers (ZeroMQ XSUB/XPUB proxy).
    Proxy(ProxyArgs),
    /// Ask running services for their description (sockets, topics, message types) as JSON.
    Describe(DescribeArgs),
    /// Check descriptions of a whole installation: topics nobody publishes, PULL without
    /// PUSH, two binds on one address, message types that disagree.
    Check(CheckArgs),
    /// Write a CURVE key pair: NAME.key (the public certificate, to hand out) and
    /// NAME.key_secret (both keys, readable by the owner only), as pyzmq writes them.
    Keygen(KeygenArgs),
    /// Generate code from the installation's message schemas: pydantic models for Python,
    /// or Rust types from the JSON Schema pydantic writes.
    Codegen(CodegenArgs),
    /// List the topics published at ADDRs for a while: publishers, rate, size (like
    /// `ros2 topic list -v`).
    Topics(TopicsArgs),
    /// List the services at PUB endpoints with their sockets and topics (like `ros2 node
    /// list` / `ros2 node info`), from their descriptions.
    Services(ServicesArgs),
}

/// Subscription options.
#[derive(Debug, Args)]
pub struct SubOpts {
    /// Subscribe to topics starting with T (repeatable; default: every topic). This is
    /// ZeroMQ's prefix filter: `era` also receives `era_changed`.
    #[arg(short, long = "topic", value_name = "T")]
    pub topics: Vec<String>,

    /// Keep only messages whose topic equals one of the --topic values.
    #[arg(long, requires = "topics")]
    pub exact: bool,
}

impl SubOpts {
    /// Whether a message on `topic` is shown.
    pub fn shows(&self, topic: Option<&str>) -> bool {
        match topic {
            Some(topic) if self.exact => self.topics.iter().any(|t| t == topic),
            _ => true,
        }
    }
}

/// When a long-running command stops by itself (else: Ctrl-C / SIGTERM).
#[derive(Debug, Args)]
pub struct StopOpts {
    /// Exit after N messages.
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,

    /// Exit after this long: seconds, or with a unit (250ms, 2s, 1m).
    #[arg(short, long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

impl StopOpts {
    /// Whether `n` messages are enough.
    pub fn done(&self, n: u64) -> bool {
        self.count.is_some_and(|count| n >= count)
    }
}

/// Options of the commands that publish.
#[derive(Debug, Args)]
pub struct PubOpts {
    /// Before the first message, wait up to MS milliseconds for --subscribers subscribers to
    /// its topic or a prefix of it (a PUB drops what is sent before a subscriber has joined);
    /// 0 sends at once.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub wait_ms: u64,

    /// How many subscribers (each counted once, whatever it subscribed to) to wait for.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub subscribers: usize,

    /// At exit, keep delivering queued messages for up to MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub linger_ms: u64,
}

/// `tap`.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// Where the publishers are (each connects by default), separated by spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    #[command(flatten)]
    pub sub: SubOpts,
    /// Indent the JSON (several lines per message).
    #[arg(long)]
    pub pretty: bool,
    #[command(flatten)]
    pub stop: StopOpts,
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Where to publish (binds by default; `>ADDR` connects, e.g. to a proxy's XSUB side).
    pub addr: String,
    /// The topic (no space), or, alone, the JSON message: without a TOPIC, each message goes
    /// out on its `"type"`, as a service's `ctx.publish` does.
    #[arg(value_name = "TOPIC")]
    pub first: String,
    /// The JSON message, or `-` to read one message per line from stdin.
    #[arg(value_name = "JSON")]
    pub second: Option<String>,
    /// Publish again and again at this rate, in messages per second (like `ros2 topic pub
    /// -r`), until Ctrl-C or --count; with `-`, the stdin lines are paced at this rate.
    #[arg(long, value_name = "HZ", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// With --rate, stop after N messages.
    #[arg(long, value_name = "N", requires = "rate")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub publish: PubOpts,
}

impl PublishArgs {
    /// The topic given, if any.
    pub fn topic(&self) -> Option<&str> {
        self.second.as_ref().map(|_| self.first.as_str())
    }

    /// The JSON argument (`-` for stdin).
    pub fn json(&self) -> &str {
        self.second.as_deref().unwrap_or(&self.first)
    }
}

/// Parses a rate in messages per second: a positive number.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(hz) if hz.is_finite() && hz > 0.0 && hz <= 1_000_000.0 => Ok(hz),
        _ => Err(format!(
            "`{text}` is not a rate: messages per second, more than 0 (like 10 or 0.5)"
        )),
    }
}

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to push (binds by default; `>ADDR` connects to a bound PULL).
    pub addr: String,
    /// The JSON message, or `-` to read one message per line from stdin.
    #[arg(allow_hyphen_values = true)]
    pub json: String,
    /// Fail (exit 1) if no PULL peer takes a message within MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// At exit, keep delivering queued messages for up to MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub linger_ms: u64,
}

/// `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Where the pusher is (connects by default; `@ADDR` binds).
    pub addr: String,
    /// Indent the JSON (several lines per message).
    #[arg(long)]
    pub pretty: bool,
    #[command(flatten)]
    pub stop: StopOpts,
}

/// `hz`.
#[derive(Debug, Args)]
pub struct HzArgs {
    /// Where the publishers are (each connects by default), separated by spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    #[command(flatten)]
    pub sub: SubOpts,
    /// Compute rates over the last N messages of each topic.
    #[arg(short, long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(2..))]
    pub window: u64,
    /// Print one JSON object per refresh instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How often to print: seconds, or with a unit.
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_period)]
    pub every: Duration,
    #[command(flatten)]
    pub stop: StopOpts,
}

/// `record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where the publishers are (each connects by default); several separated by commas.
    #[arg(
        required = true,
        value_delimiter = ',',
        num_args = 1,
        value_name = "ADDR[,ADDR...]"
    )]
    pub addrs: Vec<String>,
    /// The JSON-lines file to write (`-`: stdout). Truncated if it exists.
    pub file: String,
    #[command(flatten)]
    pub sub: SubOpts,
    #[command(flatten)]
    pub stop: StopOpts,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording (JSON lines, as written by `record`; `-`: stdin).
    pub file: String,
    /// Where to publish (binds by default; `>ADDR` connects).
    pub addr: String,
    /// Play back X times faster (0.5: half speed; `inf`: no pauses).
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    #[command(flatten)]
    pub publish: PubOpts,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Publishers to listen to (each connects by default), separated by spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    /// The services' heartbeat interval: seconds, or with a unit.
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = parse_period)]
    pub interval: Duration,
    /// A service is `lost` after missing this many intervals.
    #[arg(long, value_name = "N", default_value_t = experimance_runtime::MISSED_INTERVALS)]
    pub missed: u32,
    /// Print the table once, without escape codes, and exit: at the first heartbeat, or
    /// after --duration when given. Exit 1 if no heartbeat arrived.
    #[arg(long)]
    pub once: bool,
    /// Exit after this long: seconds, or with a unit.
    #[arg(short, long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// How often the table is redrawn: seconds, or with a unit.
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_period)]
    pub every: Duration,
}

/// `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The services' PUB endpoints, or a hub's (each connects by default), separated by
    /// spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    /// Where the web page is served: IP:PORT (port 0: one the system chooses; the URL is
    /// printed). It has no login: keep it on a loopback address or a trusted network.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The heartbeat interval of services whose description does not say theirs: seconds,
    /// or with a unit.
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = parse_period)]
    pub interval: Duration,
    /// A service is `lost` after missing this many heartbeat intervals.
    #[arg(long, value_name = "N", default_value_t = experimance_runtime::MISSED_INTERVALS)]
    pub missed: u32,
    /// How often the page gets a new snapshot: seconds, or with a unit (at least 1s).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_push_period)]
    pub every: Duration,
    /// A host name the page may be opened by (repeatable): besides IP addresses and
    /// `localhost`, only these names are served (against DNS rebinding).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
}

/// `proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where publishers connect (XSUB side; binds by default).
    #[arg(long, value_name = "ADDR")]
    pub xsub: String,
    /// Where subscribers connect (XPUB side; binds by default).
    #[arg(long, value_name = "ADDR")]
    pub xpub: String,
}

/// `describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The services' PUB endpoints (each connects by default), separated by spaces or
    /// commas; one per service (a service bound on several endpoints answers on each).
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    /// Give up (exit 1) when a service has not answered after this long: seconds, or with a
    /// unit. A service answers with its next heartbeat (within a second when its heartbeats
    /// are off).
    #[arg(long, value_name = "TIME", default_value = "15s", value_parser = parse_period)]
    pub timeout: Duration,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
    /// Write the description into FILE instead of printing it (a JSON array with several
    /// ADDRs); written only when every service answered.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<String>,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files with one description, a JSON array of them, or one per line (as `describe`
    /// prints them); `-` reads standard input.
    #[arg(required = true, value_name = "DESCRIPTION")]
    pub files: Vec<String>,
    /// Print the findings as one JSON document instead of one line each.
    #[arg(long)]
    pub json: bool,
}

/// `topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Publishers to listen to (each connects by default), separated by spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    /// How long to listen: seconds, or with a unit.
    #[arg(short, long, value_name = "TIME", default_value = "3s", value_parser = parse_period)]
    pub duration: Duration,
    /// Print one JSON object (topic → publishers, count, rate, avg_bytes) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `services`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// The services' PUB endpoints (each connects by default), separated by spaces or commas.
    #[arg(required = true, value_delimiter = ',')]
    pub addrs: Vec<String>,
    /// Give up (exit 1) when a service has not answered after this long: seconds, or with a
    /// unit. A service answers with its next heartbeat.
    #[arg(long, value_name = "TIME", default_value = "15s", value_parser = parse_period)]
    pub timeout: Duration,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The name of the key pair (usually the service's): the files are NAME.key and
    /// NAME.key_secret.
    pub name: String,
    /// The directory to write into (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// Replace existing files of that name.
    #[arg(long)]
    pub force: bool,
}

/// `codegen`.
#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// The language to generate.
    #[arg(value_enum)]
    pub language: Language,
    /// A JSON Schema document (as `Contract::json_schema` or pydantic's
    /// `model_json_schema`/`models_json_schema` write it), or service descriptions (as
    /// `describe` writes them; their handlers' schemas, from services built with the
    /// `schemars` feature); `-` reads standard input.
    #[arg(value_name = "SCHEMA")]
    pub input: String,
    /// Write the code into FILE instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<String>,
}

/// What `codegen` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// A Python module of pydantic (v2) models, with `Messages`, the union of the messages.
    Python,
    /// Rust types (serde), generated by typify.
    Rust,
}

/// Parses `1.5`, `250ms`, `2s`, `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 1.5, 250ms, 2s, 1m)"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("`{text}` is not a duration (e.g. 1.5, 250ms, 2s, 1m)"))
}

/// Parses a duration above zero.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` must be above zero")),
        d => Ok(d),
    }
}

/// Parses the dashboard's push period: at least a second, so that no page is updated
/// faster.
fn parse_push_period(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d < Duration::from_secs(1) => Err(format!("`{text}` must be at least 1s")),
        d => Ok(d),
    }
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x > 0.0 => Ok(x),
        _ => Err(format!("`{text}` is not a speed: a number above 0, or inf")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_period("0s").is_err());
        assert_eq!(parse_period("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_speed("inf"), Ok(f64::INFINITY));
        assert!(parse_speed("0").is_err());
        assert!(parse_speed("nan").is_err());
        assert!(parse_push_period("500ms").is_err());
        assert_eq!(parse_push_period("2s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
