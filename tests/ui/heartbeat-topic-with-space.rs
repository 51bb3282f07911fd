use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", heartbeat = "my heartbeat")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
