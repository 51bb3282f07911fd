use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", stats_interval = "never")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
