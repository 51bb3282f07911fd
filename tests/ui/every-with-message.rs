use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[every("1s")]
    async fn tick(&mut self, _msg: serde_json::Value) {}
}

fn main() {}
