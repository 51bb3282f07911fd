use experimance::{handlers, service};

#[service(pull = "tcp://localhost:5555", max_message_size = "16 MB")]
struct Worker;

#[handlers]
impl Worker {
    #[task]
    async fn work(&mut self, _task: serde_json::Value) {}
}

fn main() {}
