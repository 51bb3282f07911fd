use experimance::{handlers, service};

#[derive(Debug)]
struct Oops;

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era(&mut self, _msg: serde_json::Value) -> Result<(), Oops> {
        Err(Oops)
    }
}

fn main() {}
