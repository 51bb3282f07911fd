use experimance::{handlers, service};

struct Era {
    _name: String,
}

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, _msg: Era) {}
}

fn main() {}
