use experimance::{handlers, service};

// The second entry has no transport: the error points at it, not at the list.
#[service(sub = ["tcp://localhost:5555", "localhost:5557"], topics = ["era"])]
struct Display;

#[handlers]
impl Display {}

// An entry that is not a string literal.
#[service(pull = [">tcp://worker-a:5565", 5566])]
struct Results;

#[handlers]
impl Results {}

// The same address twice.
#[service(pub = ["tcp://*:5555", "tcp://*:5555"])]
struct Twice;

#[handlers]
impl Twice {}

// An empty list.
#[service(push = [])]
struct Nowhere;

#[handlers]
impl Nowhere {}

fn main() {}
