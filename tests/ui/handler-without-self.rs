use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(_msg: serde_json::Value) {}
}

fn main() {}
