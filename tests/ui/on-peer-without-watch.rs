use experimance::{handlers, service, Liveness};

#[service(sub = "tcp://localhost:5555", topics = ["era"])]
struct Display;

#[handlers]
impl Display {
    #[on_peer]
    async fn peer(&mut self, _peer: &str, _liveness: Liveness) {}
}

fn main() {}
