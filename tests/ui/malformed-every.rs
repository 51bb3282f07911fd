use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {
    #[every("fast")]
    async fn tick(&mut self) {}
}

fn main() {}
