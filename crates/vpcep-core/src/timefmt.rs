//! Timestamps are kept as epoch milliseconds and shown in Huawei's `YYYY-MM-DDTHH:MM:SSZ`.

use time::OffsetDateTime;
use time::macros::format_description;

pub fn to_wire(ms: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::to_wire(1_704_110_400_123), "2024-01-01T12:00:00Z");
    }
}
