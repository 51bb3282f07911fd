use experimance::{handlers, service};

#[service(pub = "tcp://*:5555")]
struct Publisher;

#[handlers]
impl Default for Publisher {
    fn default() -> Self {
        Publisher
    }
}

fn main() {}
