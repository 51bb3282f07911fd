use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", pub = "tcp://*:5556")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
