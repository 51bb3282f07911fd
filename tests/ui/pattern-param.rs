use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, (_era, _year): (String, u32)) {}
}

fn main() {}
