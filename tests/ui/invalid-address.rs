use experimance::{handlers, service};

#[service(pub = "localhost:5555")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
