use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[on_start]
    async fn start(&mut self) {}

    #[on_start]
    async fn start_again(&mut self) {}
}

fn main() {}
