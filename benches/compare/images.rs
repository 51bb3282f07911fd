//! Section `images`: one image at a time from a sender to a receiver on this host, end to
//! end (the sender has the bytes in memory → the receiver has them in memory), 4 KiB to
//! 4 MiB, p50 and p99 of the latency.
//!
//! - (r) raw libzmq, the image as one binary frame, no JSON: the transport's floor.
//! - (i) `#[service]` → `#[service]`, [`ImageSource`] inline: base64 in a data URL inside the
//!   JSON, decoded by the receiver.
//! - (f) the same with the image in a temporary file (`file://` URI) in the system's
//!   temporary directory: written by the sender, read by the receiver.
//! - (s) the same with the file in `/dev/shm`: memory shared through the page cache, with
//!   nothing but a path in the message.
//!
//! Each image is sent once the previous one has arrived, so the figures are latencies, not
//! throughput. Sender and receiver are in one process (two services on the bench's tokio
//! runtime; raw: two threads), which shares no memory between them beyond what the
//! variant itself does.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use experimance::image::{ImageSender, ImageSource};
use experimance::{handlers, service, Context, Error, Role, Runner};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{bind_any, percentile, raw_socket, scaled, Stat, Table, Unit, ANY, REPS};

/// A message with an image, as the Python `DisplayMedia`.
#[derive(Serialize, Deserialize)]
struct Media {
    #[serde(rename = "type")]
    kind: String,
    seq: u64,
    #[serde(flatten)]
    image: ImageSource,
}

/// How the service variants carry the image.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Inline,
    File,
    Shm,
}

/// What the sending service is asked to do: `n` images of `image`, one at a time.
struct Job {
    form: Form,
    image: Arc<Vec<u8>>,
    n: usize,
    acks: mpsc::UnboundedReceiver<u64>,
    latencies: tokio::sync::oneshot::Sender<Vec<u64>>,
}

#[service(pub = "tcp://127.0.0.1:*", stats_interval = "off")]
struct ImageServer {
    job: Option<Job>,
}

#[handlers]
impl ImageServer {
    #[on_start]
    async fn on_start(&mut self, ctx: &Context<Self>) {
        if let Some(job) = self.job.take() {
            let ctx2 = ctx.clone();
            ctx.spawn("images", async move { send_images(ctx2, job).await });
        }
    }
}

/// The sender of the service variants: the receiver acknowledges each image's `seq` once it
/// has the bytes, on a channel; the latency is from the start of `source` to that.
async fn send_images(ctx: Context<ImageServer>, mut job: Job) -> Result<(), Error> {
    let mut images = ImageSender::new().with_inline_max(match job.form {
        Form::Inline => usize::MAX,
        Form::File | Form::Shm => 0,
    });
    if job.form == Form::Shm {
        images = images.with_dir("/dev/shm");
    }
    let same_host = ctx.same_host(Role::Pub).await;
    assert!(
        same_host,
        "a PUB bound to 127.0.0.1 has its peers on this host"
    );
    // Warm-up (the subscriber joins late): small images until one arrives.
    let tiny = ImageSource::inline(b"warm", "png");
    loop {
        let warm = Media {
            kind: "Media".to_owned(),
            seq: u64::MAX,
            image: tiny.clone(),
        };
        ctx.publish_to("media", &warm).await?;
        if tokio::time::timeout(Duration::from_millis(5), job.acks.recv())
            .await
            .is_ok()
        {
            break;
        }
    }
    while job.acks.try_recv().is_ok() {}
    let mut latencies = Vec::with_capacity(job.n);
    for seq in 0..job.n as u64 {
        let t0 = Instant::now();
        let image = images
            .source(&job.image, "png", same_host)
            .expect("image source");
        let media = Media {
            kind: "Media".to_owned(),
            seq,
            image,
        };
        ctx.publish_to("media", &media).await?;
        loop {
            match job.acks.recv().await {
                Some(got) if got == seq => break,
                Some(_) => continue,
                None => return Ok(()),
            }
        }
        latencies.push(t0.elapsed().as_nanos() as u64);
    }
    let _ = job.latencies.send(latencies);
    Ok(())
}

#[service(sub = "tcp://127.0.0.1:1", topics = ["media"], stats_interval = "off")]
struct ImageDisplay {
    len: usize,
    acks: mpsc::UnboundedSender<u64>,
}

#[handlers]
impl ImageDisplay {
    #[topic("media")]
    async fn media(&mut self, media: Media) -> Result<(), String> {
        let bytes = media.image.load().map_err(|e| e.to_string())?;
        if media.seq != u64::MAX {
            assert_eq!(bytes.len(), self.len, "the image arrived whole");
        }
        std::hint::black_box(&bytes);
        let _ = self.acks.send(media.seq);
        Ok(())
    }
}

/// `n` images through two services; the latencies in nanoseconds.
async fn service_images(form: Form, image: Arc<Vec<u8>>, n: usize) -> Vec<u64> {
    let (ack_tx, acks) = mpsc::unbounded_channel();
    let (latencies, done) = tokio::sync::oneshot::channel();
    let len = image.len();
    let sender = Runner::new(ImageServer {
        job: Some(Job {
            form,
            image,
            n,
            acks,
            latencies,
        }),
    })
    .with_address(Role::Pub, ANY)
    .with_max_message_size(64 * 1024 * 1024);
    sender.start().await.expect("start the sender");
    let endpoint = sender.endpoint(Role::Pub).expect("endpoint");
    let sink = Runner::new(ImageDisplay { len, acks: ack_tx })
        .with_address(Role::Sub, endpoint)
        .with_max_message_size(64 * 1024 * 1024);
    sink.start().await.expect("start the receiver");
    let latencies = done.await.expect("the sender finished");
    sink.stop().await;
    sender.stop().await;
    assert_eq!(sink.stats().errors, 0, "every image loaded");
    latencies
}

/// `n` images as binary frames through raw libzmq PUB → SUB; the latencies in nanoseconds.
fn raw_images(image: &[u8], n: usize) -> Vec<u64> {
    let ctx = zmq::Context::new();
    let publisher = raw_socket(&ctx, zmq::PUB, Some(0));
    let endpoint = bind_any(&publisher);
    let subscriber = raw_socket(&ctx, zmq::SUB, Some(0));
    subscriber.set_subscribe(b"").expect("subscribe");
    subscriber.set_rcvtimeo(3000).expect("rcvtimeo");
    subscriber.connect(&endpoint).expect("connect");
    let (ack_tx, acks) = std::sync::mpsc::channel::<u64>();
    let expected = image.len();
    let receiver = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        while subscriber.recv(&mut msg, 0).is_ok() {
            let seq = u64::from_le_bytes(msg[..8].try_into().expect("seq"));
            let bytes = msg[8..].to_vec();
            if seq != u64::MAX {
                assert_eq!(bytes.len(), expected);
            }
            std::hint::black_box(&bytes);
            if ack_tx.send(seq).is_err() {
                return;
            }
        }
    });
    // Warm-up: until one arrives.
    loop {
        publisher
            .send(&u64::MAX.to_le_bytes()[..], 0)
            .expect("send");
        if acks.recv_timeout(Duration::from_millis(5)).is_ok() {
            break;
        }
    }
    while acks.try_recv().is_ok() {}
    let mut latencies = Vec::with_capacity(n);
    for seq in 0..n as u64 {
        let t0 = Instant::now();
        let mut frame = Vec::with_capacity(8 + image.len());
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(image);
        publisher.send(zmq::Message::from(frame), 0).expect("send");
        while acks.recv().expect("the receiver runs") != seq {}
        latencies.push(t0.elapsed().as_nanos() as u64);
    }
    drop(publisher);
    drop(acks);
    receiver.join().expect("receiver thread");
    latencies
}

fn names() -> [&'static str; 4] {
    [
        "(r) raw libzmq, binary frame",
        "(i) #[service], inline base64 in JSON",
        "(f) #[service], file:// in the temp dir",
        "(s) #[service], file:// in /dev/shm",
    ]
}

/// Section `images`.
pub(crate) fn images(rt: &tokio::runtime::Runtime, table: &mut Table) {
    let shm = PathBuf::from("/dev/shm").is_dir();
    let sizes = [
        (4 * 1024, "4 KiB"),
        (64 * 1024, "64 KiB"),
        (1024 * 1024, "1 MiB"),
        (4 * 1024 * 1024, "4 MiB"),
    ];
    let mut p50s: Vec<[Stat; 4]> = Vec::new();
    for (size, name) in sizes {
        let n = scaled(if size >= 1024 * 1024 { 100 } else { 1000 }) as usize;
        let image: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 7 + i / 251) as u8).collect());
        let label = format!("8. one {name} image end to end, {n} per rep");
        eprintln!("[images] {label}");
        // p50 and p99 of each variant, per repetition.
        let mut stats: [[Stat; 2]; 4] = Default::default();
        for rep in 0..REPS {
            let mut runs: Vec<Vec<u64>> = vec![raw_images(&image, n)];
            for form in [Form::Inline, Form::File, Form::Shm] {
                if form == Form::Shm && !shm {
                    runs.push(vec![0]);
                    continue;
                }
                runs.push(rt.block_on(service_images(form, Arc::clone(&image), n)));
            }
            for (variant, mut run) in runs.into_iter().enumerate() {
                run.sort_unstable();
                stats[variant][0].push(percentile(&run, 50.0));
                stats[variant][1].push(percentile(&run, 99.0));
            }
            eprintln!(
                "  rep {rep}: p50 raw {:.0} µs  inline {:.0} µs  file {:.0} µs  shm {:.0} µs",
                stats[0][0].0[rep] / 1e3,
                stats[1][0].0[rep] / 1e3,
                stats[2][0].0[rep] / 1e3,
                stats[3][0].0[rep] / 1e3,
            );
        }
        for (p, which) in [(0, "p50"), (1, "p99")] {
            let figure = format!("{label}: {which}");
            for (variant, name) in names().iter().enumerate() {
                let note = if variant == 0 {
                    String::new()
                } else {
                    format!(
                        "/r {:.2}",
                        stats[variant][p].median() / stats[0][p].median()
                    )
                };
                table.add(&figure, name, &stats[variant][p], Unit::Micros, note);
            }
        }
        let [r, i, f, shm] = stats;
        p50s.push([r, i, f, shm].map(|[p50, _]| p50));
    }
    // How flat each variant's latency is from the smallest to the largest image, per
    // repetition.
    if let (Some(first), Some(last)) = (p50s.first(), p50s.last()) {
        for (v, name) in names().iter().enumerate() {
            let ratios = Stat(
                first[v]
                    .0
                    .iter()
                    .zip(&last[v].0)
                    .map(|(small, large)| large / small)
                    .collect(),
            );
            table.add(
                "8. images: p50 at 4 MiB ÷ p50 at 4 KiB (1.0 = flat)",
                name,
                &ratios,
                Unit::Ratio,
                String::new(),
            );
        }
    }
}
