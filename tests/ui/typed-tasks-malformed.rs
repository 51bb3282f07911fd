use experimance::{handlers, service};

#[service(pull = "tcp://localhost:5564")]
struct Worker;

#[handlers]
impl Worker {
    #[task(other)]
    async fn other(&mut self, msg: serde_json::Value) {}

    #[task(catch_all)]
    async fn rest(&mut self, msg: serde_json::Value) {}

    #[task(catch_all)]
    async fn rest_again(&mut self, msg: serde_json::Value) {}
}

fn main() {}
