use experimance::{handlers, service, Context};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, _ctx: &Context<Self>, _msg: serde_json::Value) {}
}

fn main() {}
