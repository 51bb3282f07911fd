use experimance::{handlers, service};

#[service(name = "", pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
