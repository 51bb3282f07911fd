use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = ["era", "era changed"])]
struct Display;

#[handlers]
impl Display {}

fn main() {}
