use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    // `#[topic]` without a topic takes it from a #[message] type; `Value` has none.
    #[topic]
    async fn any(&mut self, msg: serde_json::Value) {}
}

fn main() {}
