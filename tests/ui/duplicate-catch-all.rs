use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = [""])]
struct Display;

#[handlers]
impl Display {
    #[catch_all]
    async fn on_any(&mut self, _topic: &str, _msg: serde_json::Value) {}

    #[catch_all]
    async fn on_anything(&mut self, _topic: &str, _msg: serde_json::Value) {}
}

fn main() {}
