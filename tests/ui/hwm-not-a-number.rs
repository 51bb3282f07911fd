use experimance::{handlers, service};

#[service(pub = "tcp://127.0.0.1:5555", hwm = "lots")]
struct Coordinator;

#[handlers]
impl Coordinator {}

fn main() {}
