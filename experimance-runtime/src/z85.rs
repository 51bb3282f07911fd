//! Whether text is a CURVE key written out: 40 characters of Z85 (ZeroMQ RFC 32). The macro
//! crate includes this file too, so the attribute and the runtime tell keys from paths alike.

/// Whether `b` is a character of Z85.
pub fn is_z85(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".-:+=^!/*?&<>()[]{}@%$#".contains(&b)
}

/// Whether `text` is a key (40 Z85 characters) rather than a path.
pub fn looks_like_key(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(is_z85)
}
