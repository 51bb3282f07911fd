use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = [""])]
struct Display;

#[handlers]
impl Display {
    #[catch_all]
    async fn on_any(&mut self, _topic: String, _msg: serde_json::Value) {}
}

fn main() {}
