use experimance::{handlers, service};

#[service(pub = "localhost:5555", topic = ["era"], heartbeat_interval = "5 sec", stats_interval = "10s")]
struct Publisher;

#[handlers]
impl Publisher {}

fn main() {}
