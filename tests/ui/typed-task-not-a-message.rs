use experimance::{handlers, message, service};
use serde::{Deserialize, Serialize};

#[message]
#[derive(Serialize, Deserialize)]
struct RenderRequest {
    prompt: String,
}

#[service(pull = "tcp://localhost:5564")]
struct Worker;

#[handlers]
impl Worker {
    #[task]
    async fn render(&mut self, request: RenderRequest) {}

    // Several `#[task]` handlers are chosen by wire type: a `Value` has none (write
    // `#[task(catch_all)]` for the rest).
    #[task]
    async fn rest(&mut self, msg: serde_json::Value) {}
}

fn main() {}
