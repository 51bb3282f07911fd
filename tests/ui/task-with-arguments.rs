use experimance::{handlers, service};

#[service(pull = "tcp://localhost:5555")]
struct Worker;

#[handlers]
impl Worker {
    #[task("jobs")]
    async fn work(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
