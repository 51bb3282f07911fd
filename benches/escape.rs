//! The send path's JSON encoding against `serde_json::to_writer`, on the shapes of big
//! messages: one long string without escapes (an image as base64), long prose with quotes
//! and newlines, and a message made of many short strings. Both write into a reused buffer
//! with room, as a service's send buffer has after the first big message.
//!
//! Run: `cargo bench --bench escape`. Prints the best and the median GB/s of each over the
//! repetitions, and the ratios (send path / serde_json).

use std::time::Instant;

use serde::Serialize;

#[derive(Serialize)]
struct Image {
    r#type: &'static str,
    request_id: u64,
    image_data: String,
}

#[derive(Serialize)]
struct Prose {
    r#type: &'static str,
    text: String,
}

#[derive(Serialize)]
struct Item {
    name: String,
    kind: &'static str,
    note: String,
}

#[derive(Serialize)]
struct Catalogue {
    r#type: &'static str,
    items: Vec<Item>,
}

/// The best and the median time of `reps` runs of `encode` into `buf`, as GB/s of output.
fn best(buf: &mut Vec<u8>, reps: usize, mut encode: impl FnMut(&mut Vec<u8>)) -> (f64, f64) {
    let mut times = Vec::with_capacity(reps);
    let mut len = 0;
    for _ in 0..reps {
        buf.clear();
        let start = Instant::now();
        encode(buf);
        times.push(start.elapsed().as_secs_f64());
        len = buf.len();
    }
    times.sort_by(f64::total_cmp);
    let rate = |t: f64| len as f64 / t / 1e9;
    (rate(times[0]), rate(times[times.len() / 2]))
}

fn compare<T: Serialize>(name: &str, value: &T, reps: usize) {
    let mut buf = Vec::with_capacity(4 << 20);
    let (plain, plain_median) = best(&mut buf, reps, |b| serde_json::to_writer(b, value).unwrap());
    let expected = buf.clone();
    let (ours, ours_median) = best(&mut buf, reps, |b| {
        experimance::wire::encode_task(b, value).unwrap()
    });
    assert_eq!(buf, expected, "{name}: not the same bytes");
    println!(
        "{name:<28} best: serde_json {plain:>6.2} GB/s, send path {ours:>6.2} GB/s, ratio {:>5.2}; \
         median: {plain_median:>6.2}, {ours_median:>6.2}, ratio {:>5.2}",
        ours / plain,
        ours_median / plain_median
    );
}

fn main() {
    let base64: String = (0..1 << 20)
        .map(|i| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64] as char
        })
        .collect();
    let sentence = "The era changes: \"wilderness\" gives way to fields,\nand the river bends. ";
    let prose: String = sentence.repeat((1 << 20) / sentence.len());
    for round in 1..=2 {
        println!("round {round}");
        compare(
            "1 MiB base64 string",
            &Image {
                r#type: "ImageReady",
                request_id: 7,
                image_data: base64.clone(),
            },
            200,
        );
        compare(
            "1 MiB prose",
            &Prose {
                r#type: "Story",
                text: prose.clone(),
            },
            200,
        );
        compare(
            "64 KiB of short strings",
            &Catalogue {
                r#type: "Catalogue",
                items: (0..(64 << 10) / 48)
                    .map(|i| Item {
                        name: format!("tile-{i}"),
                        kind: "forest",
                        note: "short note".to_owned(),
                    })
                    .collect(),
            },
            2000,
        );
    }
}
