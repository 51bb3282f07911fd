use experimance::{handlers, service};

#[service(pub = "tcp://127.0.0.1:5555", username = "installation")]
struct Coordinator;

#[handlers]
impl Coordinator {}

fn main() {}
