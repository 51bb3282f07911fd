use experimance::{handlers, service};

#[service(push = "tcp://*:5555")]
struct Producer;

#[handlers]
impl Producer {
    #[task]
    async fn work(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
