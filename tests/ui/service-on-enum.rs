use experimance::service;

#[service(pub = "tcp://*:5555")]
enum Publisher {
    A,
    B,
}

fn main() {}
