use experimance::{handlers, service};

#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[allow(dead_code)]
    text: &'a str,
}

#[service(sub = "tcp://localhost:5555")]
struct Display;

#[handlers]
impl Display {
    #[topic("era")]
    async fn on_era<'a>(&mut self, _msg: Frame<'a>) {}
}

fn main() {}
