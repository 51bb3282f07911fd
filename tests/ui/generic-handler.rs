use experimance::{handlers, service};

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era<T: serde::de::DeserializeOwned>(&mut self, _msg: T) {}
}

fn main() {}
