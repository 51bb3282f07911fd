use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topic = ["era"])]
struct Display;

#[handlers]
impl Display {}

fn main() {}
