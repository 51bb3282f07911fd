use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = ["era", idle])]
struct Display;

#[handlers]
impl Display {}

fn main() {}
