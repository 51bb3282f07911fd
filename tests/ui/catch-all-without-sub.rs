use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[catch_all]
    async fn on_any(&mut self, _topic: &str, _msg: serde_json::Value) {}
}

fn main() {}
