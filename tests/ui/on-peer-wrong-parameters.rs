use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555", watch = ["coordinator.heartbeat"])]
struct Display;

#[handlers]
impl Display {
    #[on_peer]
    async fn peer(&mut self, _peer: &str, _alive: bool) {}
}

fn main() {}
