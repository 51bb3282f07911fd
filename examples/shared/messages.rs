//! The messages of an example installation, declared once: each struct is a `#[message]` with
//! its wire type, in the style of the current Python services' models (a `type` first, enums
//! in snake case, optional fields with defaults, a union, a field named `loop`). The
//! `contract` example writes their JSON Schema and a Python module of pydantic models for
//! them; with the `schemars` feature each also derives `schemars::JsonSchema`.
#![allow(dead_code)]

use experimance::message;
use serde::{Deserialize, Serialize};

/// The era of the installation's world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Era {
    Wilderness,
    PreIndustrial,
    Modern,
    AiFuture,
}

/// The biome of the installation's world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Biome {
    TemperateForest,
    Desert,
    Coastal,
}

/// What a display shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    Image,
    Video,
}

/// An image as base64 data inside the message, or as a `file://` URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImageSource {
    #[serde(default)]
    pub image_data: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default = "png")]
    pub mime_type: String,
}

fn png() -> String {
    "image/png".to_owned()
}

/// Published by the core when the world moves on.
#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SpaceTimeUpdate {
    pub era: Era,
    pub biome: Biome,
    /// ISO 8601.
    pub timestamp: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Pushed by the core to the image server.
#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RenderRequest {
    pub request_id: String,
    pub era: Era,
    pub biome: Biome,
    pub prompt: String,
    #[serde(default = "side")]
    pub width: Option<u32>,
    #[serde(default = "side")]
    pub height: Option<u32>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub clear_queue: bool,
}

fn side() -> Option<u32> {
    Some(1024)
}

/// Pushed back by the image server.
#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ImageReady {
    pub request_id: String,
    pub image: ImageSource,
    #[serde(default = "half")]
    pub strength: f64,
}

fn half() -> f64 {
    0.5
}

/// A size in pixels, or a named one (`"fullscreen"`): Python's `tuple[int, int] | str`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Size {
    Pixels((u32, u32)),
    Named(String),
}

/// Published by the core for the display.
#[message]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DisplayMedia {
    pub content_type: ContentType,
    pub size: Size,
    /// `loop` is a keyword in Rust, not on the wire.
    #[serde(rename = "loop", default)]
    pub looping: bool,
    #[serde(default)]
    pub fade_in: Option<f64>,
    #[serde(default)]
    pub image: Option<ImageSource>,
}

/// One of each message, as the installation sends them.
pub fn samples() -> (
    SpaceTimeUpdate,
    RenderRequest,
    ImageReady,
    Vec<DisplayMedia>,
) {
    (
        SpaceTimeUpdate {
            era: Era::Modern,
            biome: Biome::Coastal,
            timestamp: "2026-12-01T18:00:00".into(),
            tags: vec!["dawn".into()],
        },
        RenderRequest {
            request_id: "r-1".into(),
            era: Era::AiFuture,
            biome: Biome::Desert,
            prompt: "dunes".into(),
            width: Some(1024),
            height: None,
            seed: Some(7),
            clear_queue: false,
        },
        ImageReady {
            request_id: "r-1".into(),
            image: ImageSource {
                image_data: None,
                uri: Some("file:///tmp/r-1.png".into()),
                mime_type: png(),
            },
            strength: 0.5,
        },
        vec![
            DisplayMedia {
                content_type: ContentType::Image,
                size: Size::Pixels((1920, 1080)),
                looping: true,
                fade_in: None,
                image: None,
            },
            DisplayMedia {
                content_type: ContentType::Video,
                size: Size::Named("fullscreen".into()),
                looping: false,
                fade_in: Some(0.5),
                image: None,
            },
        ],
    )
}
