use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = ["era"])]
struct Display;

#[handlers(topics = ["era"])]
impl Display {}

fn main() {}
