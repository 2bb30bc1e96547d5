//! One increasing timeline out of captures recorded at different times.
//!
//! Each packet keeps the gap to the packet before it in its own capture,
//! clamped to [`Timeline::max_gap_ns`] (and to zero when the capture goes
//! back in time); a new capture starts [`Timeline::file_gap_ns`] after the
//! previous one ended. The result never decreases.

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Where the first packet goes; its own time if none.
    start: Option<u64>,
    /// The time given to the last packet.
    now: Option<u64>,
    /// The latest original timestamp seen in the current capture.
    last_in_file: Option<u64>,
    /// The largest gap kept between two packets of one capture.
    pub max_gap_ns: u64,
    /// The gap between the end of one capture and the start of the next.
    pub file_gap_ns: u64,
}

impl Timeline {
    /// A timeline that starts at the first packet's own time, with gaps
    /// clamped to one second and captures 1 ms apart.
    pub fn new() -> Timeline {
        Timeline {
            max_gap_ns: NANOS_PER_SEC,
            file_gap_ns: NANOS_PER_SEC / 1000,
            ..Timeline::default()
        }
    }

    /// The same, with the first packet placed at `start_ns`.
    pub fn starting_at(start_ns: u64) -> Timeline {
        Timeline {
            start: Some(start_ns),
            ..Timeline::new()
        }
    }

    /// The next packets come from another capture (or another replay).
    pub fn start_file(&mut self) {
        self.last_in_file = None;
    }

    /// Places a packet recorded at `original_ns`; returns its new time.
    pub fn place(&mut self, original_ns: u64) -> u64 {
        let now = match (self.now, self.last_in_file) {
            (None, _) => self.start.unwrap_or(original_ns),
            (Some(now), Some(last)) => {
                now.saturating_add(original_ns.saturating_sub(last).min(self.max_gap_ns))
            }
            (Some(now), None) => now.saturating_add(self.file_gap_ns),
        };
        self.last_in_file = Some(
            self.last_in_file
                .map_or(original_ns, |l| l.max(original_ns)),
        );
        self.now = Some(now);
        now
    }

    /// The time given to the last packet.
    pub fn now(&self) -> Option<u64> {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_gaps_clamps_long_ones_and_never_goes_back() {
        let mut t = Timeline::starting_at(1_000);
        assert_eq!(t.place(50 * NANOS_PER_SEC), 1_000);
        assert_eq!(t.place(50 * NANOS_PER_SEC + 300), 1_300);
        // A ten-minute pause counts as one second.
        assert_eq!(t.place(650 * NANOS_PER_SEC), 1_300 + NANOS_PER_SEC);
        // Going back in time: no gap, and the next gap is from the latest.
        assert_eq!(t.place(10), 1_300 + NANOS_PER_SEC);
        assert_eq!(t.place(650 * NANOS_PER_SEC + 5), 1_305 + NANOS_PER_SEC);
        // Another capture, recorded years earlier, follows 1 ms later.
        t.start_file();
        assert_eq!(t.place(7), 1_305 + NANOS_PER_SEC + 1_000_000);
        assert_eq!(t.place(8), 1_306 + NANOS_PER_SEC + 1_000_000);
    }

    #[test]
    fn starts_at_the_first_packet_by_default() {
        let mut t = Timeline::new();
        assert_eq!(t.now(), None);
        assert_eq!(t.place(5 * NANOS_PER_SEC), 5 * NANOS_PER_SEC);
        assert_eq!(t.place(6 * NANOS_PER_SEC), 6 * NANOS_PER_SEC);
    }
}
