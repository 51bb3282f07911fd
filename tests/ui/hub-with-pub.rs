use experimance::{handlers, service};

// A service with a PUB socket sends its heartbeats on it: `hub` is for one without.
#[service(pub = "tcp://*:5555", hub = ">tcp://hub:6000")]
struct Core;

#[handlers]
impl Core {}

fn main() {}
