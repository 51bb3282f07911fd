use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", heartbeat_interval = "5 sec")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
