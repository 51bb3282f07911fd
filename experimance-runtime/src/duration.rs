//! Durations and sizes as `#[service]` attributes, configuration files and environment
//! variables write them. The macro crate includes this file too, so the attribute and the
//! runtime read them alike.

/// Parses `"250ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"` into milliseconds.
pub fn parse_millis(text: &str) -> Result<u64, String> {
    const UNITS: [(&str, f64); 4] = [("ms", 1.0), ("s", 1e3), ("m", 60e3), ("h", 3600e3)];
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(format!(
            "malformed duration `{text}`: expected a number and a unit, like \"250ms\", \"5s\", \"2m\" or \"1h\""
        ));
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("malformed duration `{text}`: `{number}` is not a number"))?;
    let millis = (value * scale).round();
    if millis < 1.0 {
        return Err(format!("duration `{text}` is shorter than 1ms"));
    }
    Ok(millis as u64)
}

/// Parses `"16777216"`, `"16MiB"`, `"64KiB"`, `"1GiB"`, `"256B"` into bytes (at least 1).
pub fn parse_bytes(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 4] = [
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ];
    let text = text.trim();
    let (number, scale) = UNITS
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n.trim(), *scale)))
        .unwrap_or((text, 1));
    let bytes = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!(
                "malformed size `{text}`: expected bytes, like 16777216, \"16MiB\" or \"64KiB\""
            )
        })?;
    if bytes < 1 {
        return Err(format!("size `{text}` must be at least 1 byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, parse_millis};

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_bytes("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("256B"), Ok(256));
        assert!(parse_bytes("0B").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn parses_units() {
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("5s"), Ok(5000));
        assert_eq!(parse_millis("1.5s"), Ok(1500));
        assert_eq!(parse_millis("2m"), Ok(120_000));
        assert_eq!(parse_millis("1h"), Ok(3_600_000));
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse_millis("5").is_err());
        assert!(parse_millis("five s").is_err());
        assert!(parse_millis("5 sec").is_err());
        assert!(parse_millis("0s").is_err());
        assert!(parse_millis("1..2s").is_err());
    }
}
