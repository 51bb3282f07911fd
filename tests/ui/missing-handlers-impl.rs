use experimance::service;

#[service(pub = "tcp://*:5555")]
struct Publisher;

fn main() {}
