use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", watch = ["display.heartbeat"])]
struct Coordinator;

#[handlers]
impl Coordinator {}

fn main() {}
