use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[on_stop]
    async fn stop(&mut self) {}

    #[on_stop]
    async fn stop_again(&mut self) {}
}

fn main() {}
