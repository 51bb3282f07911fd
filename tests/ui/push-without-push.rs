use experimance::{handlers, service, Context};

#[service(pull = "tcp://localhost:5555")]
struct Worker;

#[handlers]
impl Worker {
    #[task]
    async fn work(&mut self, msg: serde_json::Value, ctx: &Context<Self>) {
        let _ = ctx.push(&msg).await;
    }
}

fn main() {}
