use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[every(5)]
    async fn tick(&mut self) {}
}

fn main() {}
