use experimance::{handlers, service};

#[service(pub = "tcp://127.0.0.1:5555", allow = ["127.0.0.1", "10.0.0.0/40", "gallery"])]
struct Coordinator;

#[handlers]
impl Coordinator {}

fn main() {}
