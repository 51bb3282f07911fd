//! A small installation for `experimance dashboard` to show, in one process: the `core` sets
//! the era and asks for images; the `image_server` renders them (tasks over PUSH → PULL) and
//! announces each; the `display` shows the images of the current era; the `audio` follows the
//! era. Every service binds its PUB socket on 127.0.0.1 with a port the system chooses, and
//! the example prints the `experimance dashboard` command that looks at all of them.
//!
//! Run: `cargo run -p experimance-cli --example installation`, then the printed command (in
//! another terminal), and open the URL it prints. Ctrl-C stops the services.
//!
//! Every key can be changed by environment as usual, e.g.
//! `EXPERIMANCE_CORE_HEARTBEAT_INTERVAL=200ms` or `EXPERIMANCE_DISPLAY_STATS_INTERVAL=off`.

use std::sync::Arc;

use experimance::{handlers, message, service, Context, Role, Runner, Services};
use serde::{Deserialize, Serialize};

/// The era changed.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EraChanged {
    era: String,
    year: i32,
}

/// An image to render (a task).
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RenderRequest {
    request_id: u64,
    era: String,
    prompt: String,
}

/// An image is ready.
#[message]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageReady {
    request_id: u64,
    era: String,
    uri: String,
    width: u32,
    height: u32,
}

const ERAS: [(&str, i32); 4] = [
    ("wilderness", 1600),
    ("pre_industrial", 1850),
    ("modern", 2000),
    ("ai_future", 2050),
];

/// Moves through the eras and asks for an image of each moment.
#[service(
    name = "core",
    pub = "tcp://127.0.0.1:*",
    push = "tcp://127.0.0.1:*",
    publishes = ["EraChanged"],
    heartbeat_interval = "1s",
    stats_interval = "2s",
    service_type = "core"
)]
#[derive(Default)]
struct Core {
    tick: u64,
}

#[handlers]
impl Core {
    #[every("250ms")]
    async fn step(&mut self, ctx: &Context<Self>) -> Result<(), experimance::Error> {
        self.tick += 1;
        let (era, year) = ERAS[(self.tick / 40) as usize % ERAS.len()];
        ctx.publish(&EraChanged {
            era: era.to_owned(),
            year: year + (self.tick % 40) as i32,
        })
        .await?;
        if self.tick % 2 == 0 {
            ctx.push(&RenderRequest {
                request_id: self.tick / 2,
                era: era.to_owned(),
                prompt: format!("a {era} landscape seen from above"),
            })
            .await?;
        }
        Ok(())
    }
}

/// Renders the requested images (here: makes up a file name) and announces each.
#[service(
    name = "image_server",
    pub = "tcp://127.0.0.1:*",
    pull = "tcp://127.0.0.1:1",
    publishes = ["ImageReady"],
    heartbeat_interval = "1s",
    stats_interval = "2s",
    service_type = "image_server"
)]
struct ImageServer;

#[handlers]
impl ImageServer {
    #[task]
    async fn render(
        &mut self,
        request: RenderRequest,
        ctx: &Context<Self>,
    ) -> Result<(), experimance::Error> {
        ctx.publish(&ImageReady {
            request_id: request.request_id,
            uri: format!("file:///tmp/renders/{}.png", request.request_id),
            era: request.era,
            width: 1920,
            height: 1080,
        })
        .await
    }
}

/// Shows the images of the current era.
#[service(
    name = "display",
    pub = "tcp://127.0.0.1:*",
    sub = "tcp://127.0.0.1:1",
    heartbeat_interval = "1s",
    stats_interval = "2s",
    service_type = "display"
)]
#[derive(Default)]
struct Display {
    era: String,
    shown: u64,
}

#[handlers]
impl Display {
    #[topic]
    async fn on_era(&mut self, era: EraChanged) {
        self.era = era.era;
    }

    #[topic]
    async fn on_image(&mut self, image: ImageReady) {
        if image.era == self.era {
            self.shown += 1;
        }
    }
}

/// Follows the era, as a sound engine would.
#[service(
    name = "audio",
    pub = "tcp://127.0.0.1:*",
    sub = "tcp://127.0.0.1:1",
    heartbeat_interval = "1s",
    stats_interval = "2s",
    service_type = "audio"
)]
#[derive(Default)]
struct Audio {
    era: String,
}

#[handlers]
impl Audio {
    #[topic]
    async fn on_era(&mut self, era: EraChanged) {
        self.era = era.era;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("RUST_LOG").is_some() {
        experimance::init_logging();
    }
    // The core and the image server first: the others connect to the ports they bound.
    let core = Arc::new(Runner::new(Core::default()));
    core.start().await?;
    let image_server = Arc::new(
        Runner::new(ImageServer).with_address(Role::Pull, core.endpoint(Role::Push).unwrap()),
    );
    image_server.start().await?;
    let (eras, images) = (
        core.endpoint(Role::Pub).unwrap(),
        image_server.endpoint(Role::Pub).unwrap(),
    );
    let display = Arc::new(
        Runner::new(Display::default()).with_address(Role::Sub, vec![eras.clone(), images]),
    );
    let audio = Arc::new(Runner::new(Audio::default()).with_address(Role::Sub, eras));
    display.start().await?;
    audio.start().await?;

    let publishers: Vec<String> = [
        core.endpoint(Role::Pub),
        image_server.endpoint(Role::Pub),
        display.endpoint(Role::Pub),
        audio.endpoint(Role::Pub),
    ]
    .into_iter()
    .flatten()
    .collect();
    println!("experimance dashboard {}", publishers.join(" "));

    // Already started: the group keeps them running, and stops them all on Ctrl-C / SIGTERM.
    Services::new()
        .with_shared(core)
        .with_shared(image_server)
        .with_shared(display)
        .with_shared(audio)
        .run()
        .await?;
    Ok(())
}
