use experimance::{handlers, service, Context};

#[service(pub = "tcp://*:5556")]
struct Other;

#[handlers]
impl Other {}

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, _msg: serde_json::Value, _ctx: &Context<Other>) {}
}

fn main() {}
