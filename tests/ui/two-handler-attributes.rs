use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    #[every("1s")]
    async fn on_era(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
