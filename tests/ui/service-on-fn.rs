use experimance::service;

#[service(pub = "tcp://*:5555")]
fn publisher() {}

fn main() {}
