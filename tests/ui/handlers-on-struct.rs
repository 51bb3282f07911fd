use experimance::handlers;

#[handlers]
struct Publisher;

fn main() {}
