//! Human ages ("42s ago"): how stale a thing is, in text rather than color.

/// `then` relative to `now`, coarse enough to read at a glance.
pub fn age(now_ms: u64, then_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3_599 => format!("{}m ago", secs / 60),
        3_600..=86_399 => format!("{}h ago", secs / 3_600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(42_000, 0), "42s ago");
        assert_eq!(age(0, 5_000), "0s ago");
        assert_eq!(age(600_000, 0), "10m ago");
        assert_eq!(age(7_200_000, 0), "2h ago");
        assert_eq!(age(3 * 86_400_000, 0), "3d ago");
    }
}
