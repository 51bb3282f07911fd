use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", topics = "era", heartbeat = "hb")]
struct Display;

#[handlers]
impl Display {}

fn main() {}
