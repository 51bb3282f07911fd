use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[topic("era")]
    async fn on_era(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
