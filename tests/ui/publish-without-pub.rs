use experimance::{handlers, service, Context};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, msg: serde_json::Value, ctx: &Context<Self>) {
        let _ = ctx.publish(&msg).await;
    }
}

fn main() {}
