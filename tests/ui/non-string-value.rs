use experimance::{handlers, service};

#[service(pub = "tcp://*:5555", heartbeat_interval = 5, stats_interval = "off")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
