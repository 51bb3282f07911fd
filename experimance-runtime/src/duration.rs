//! Durations as `#[service]` attributes and configuration files write them. The macro crate
//! includes this file too, so the attribute and the runtime read durations alike.

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

#[cfg(test)]
mod tests {
    use super::parse_millis;

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
