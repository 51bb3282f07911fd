use experimance::{handlers, message, service};
use serde::{Deserialize, Serialize};

#[message]
#[derive(Serialize, Deserialize)]
struct RenderRequest {
    prompt: String,
}

#[message("images")]
#[derive(Serialize, Deserialize)]
struct Images {
    uri: String,
}

#[service(sub = "tcp://localhost:5555", topics = ["era", "images"])]
struct Display;

#[handlers]
impl Display {
    // Not subscribed: `topics` has no prefix of `RenderRequest`.
    #[topic]
    async fn on_render(&mut self, request: RenderRequest) {}

    // A literal topic and a wire type that clash.
    #[topic("images")]
    async fn on_images(&mut self, msg: serde_json::Value) {}

    #[topic]
    async fn on_typed_images(&mut self, images: Images) {}
}

#[service(pull = "tcp://localhost:5564")]
struct Worker;

#[handlers]
impl Worker {
    #[task]
    async fn render(&mut self, request: RenderRequest) {}

    // Two task handlers for one wire type.
    #[task]
    async fn render_again(&mut self, request: RenderRequest) {}
}

#[service(pub = "tcp://*:5555")]
struct NoSub;

#[handlers]
impl NoSub {
    // No SUB socket to receive it on.
    #[topic]
    async fn on_render(&mut self, request: RenderRequest) {}
}

fn main() {}
