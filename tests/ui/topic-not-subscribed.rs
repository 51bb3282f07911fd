use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = ["era"])]
struct Display;

#[handlers]
impl Display {
    #[topic("era.changed")]
    async fn on_era(&mut self, _msg: serde_json::Value) {}

    #[topic("idle")]
    async fn on_idle(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
