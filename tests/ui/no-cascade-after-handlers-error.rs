use experimance::{handlers, service};

// The non-async handler is the only error: without its topic, `sub` would have nothing to
// subscribe to, but that check stays quiet.
#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    fn on_era(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
