use experimance::{handlers, service, Context};

// The malformed `pub` is the only error: the handlers' checks and `ctx.publish` stay quiet.
#[service(pub = "localhost:5555", sub = "tcp://localhost:5556", topics = ["era"])]
struct Display;

#[handlers]
impl Display {
    #[topic("idle")]
    async fn on_idle(&mut self, msg: serde_json::Value, ctx: &Context<Self>) {
        let _ = ctx.publish(&msg).await;
    }

    #[task]
    async fn work(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
