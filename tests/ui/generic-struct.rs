use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher<T> {
    value: T,
}

#[handlers]
impl<T: Send + 'static> Publisher<T> {}

fn main() {}
