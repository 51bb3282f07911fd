use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", default_topic = "core events")]
struct Core;

#[handlers]
impl Core {}

fn main() {}
