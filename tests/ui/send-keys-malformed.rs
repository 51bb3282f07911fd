use experimance::{handlers, service};

#[service(
    push = "tcp://*:5555",
    pub = "tcp://*:5556",
    send_queue = 0,
    send_timeout = "5 sec",
    max_subscription_size = "lots",
    max_subscriptions = -1
)]
struct Controller;

#[handlers]
impl Controller {}

fn main() {}
