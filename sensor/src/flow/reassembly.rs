//! Bounded reassembly of the first bytes of each direction of a TCP
//! connection: identity (a ClientHello, a certificate chain, a banner) sits
//! in the first few kilobytes, often spread over segments. Bytes are kept in
//! sequence order up to a cap; a few segments that arrive early wait for
//! the gap before them to fill; anything beyond is dropped and counted.

/// Segments held while a gap before them is open.
const MAX_PENDING: usize = 8;

/// How a segment changed a direction's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// New in-order bytes were added.
    Grew,
    /// Nothing new (a retransmission, an empty segment, or it waits for a gap).
    Nothing,
    /// The cap is reached, or a gap will not fill: no more bytes will come.
    Ended,
}

/// One direction's first bytes.
#[derive(Debug, Clone, Default)]
pub struct StreamBuffer {
    bytes: Vec<u8>,
    /// Sequence number of the next byte expected (`None`: no payload yet).
    next_seq: Option<u32>,
    /// Early segments, by sequence number.
    pending: Vec<(u32, Vec<u8>)>,
    /// No more bytes are taken (the parser is done, or the buffer ended).
    pub closed: bool,
    /// Bytes held when the parser last saw them.
    parsed: usize,
}

/// What reassembly counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReassemblyCounters {
    /// Directions whose bytes reached the cap before the parser was done.
    pub truncated: u64,
    /// Directions given up on because a gap did not fill.
    pub gaps: u64,
}

impl StreamBuffer {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the parser should look again: the bytes grew by half since
    /// it last did (or it never did). Parsers read from the start, so
    /// showing them every segment would cost the square of the length;
    /// growing by half keeps the total linear.
    pub fn worth_parsing(&mut self) -> bool {
        let due = self.parsed == 0 || self.bytes.len() >= self.parsed + self.parsed / 2;
        if due {
            self.parsed = self.bytes.len();
        }
        due
    }

    /// Memory held, for the worker's budget.
    pub fn held(&self) -> usize {
        self.bytes.capacity()
            + self
                .pending
                .iter()
                .map(|(_, b)| b.capacity())
                .sum::<usize>()
    }

    /// Frees the bytes once the direction is closed.
    pub fn close(&mut self) {
        self.closed = true;
        self.bytes = Vec::new();
        self.pending = Vec::new();
    }

    /// Adds a segment with sequence number `seq`, keeping at most `cap` bytes.
    pub fn append(
        &mut self,
        seq: u32,
        payload: &[u8],
        cap: usize,
        counters: &mut ReassemblyCounters,
    ) -> Appended {
        if self.closed || payload.is_empty() {
            return Appended::Nothing;
        }
        let next = *self.next_seq.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            if self.pending.len() >= MAX_PENDING {
                counters.gaps += 1;
                return Appended::Ended;
            }
            let keep = payload.len().min(cap);
            self.pending.push((seq, payload[..keep].to_vec()));
            return Appended::Nothing;
        }
        let mut grew = self.take(seq, payload, cap);
        // Early segments that now fit.
        while let Some(i) = self.pending.iter().position(|(s, _)| {
            self.next_seq
                .is_some_and(|n| (s.wrapping_sub(n) as i32) <= 0)
        }) {
            let (s, bytes) = self.pending.swap_remove(i);
            grew |= self.take(s, &bytes, cap);
        }
        if self.bytes.len() >= cap {
            counters.truncated += 1;
            return Appended::Ended;
        }
        if grew {
            Appended::Grew
        } else {
            Appended::Nothing
        }
    }

    /// Adds a datagram of a direction whose messages span datagrams, after
    /// its length as a big-endian u16, keeping at most `cap` bytes.
    pub fn append_datagram(
        &mut self,
        payload: &[u8],
        cap: usize,
        counters: &mut ReassemblyCounters,
    ) -> Appended {
        if self.closed || payload.is_empty() {
            return Appended::Nothing;
        }
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        if self.bytes.len() + 2 + usize::from(len) > cap {
            counters.truncated += 1;
            return Appended::Ended;
        }
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(&payload[..usize::from(len)]);
        Appended::Grew
    }

    /// Appends the part of an in-order or overlapping segment not yet held.
    fn take(&mut self, seq: u32, payload: &[u8], cap: usize) -> bool {
        let Some(next) = self.next_seq else {
            return false;
        };
        let skip = next.wrapping_sub(seq) as usize;
        let Some(new) = payload.get(skip..).filter(|n| !n.is_empty()) else {
            return false;
        };
        let room = cap.saturating_sub(self.bytes.len());
        let new = &new[..new.len().min(room)];
        self.bytes.extend_from_slice(new);
        self.next_seq = Some(next.wrapping_add(new.len() as u32));
        !new.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(segments: &[(u32, &[u8])], cap: usize) -> (StreamBuffer, ReassemblyCounters) {
        let mut b = StreamBuffer::default();
        let mut c = ReassemblyCounters::default();
        for (seq, data) in segments {
            b.append(*seq, data, cap, &mut c);
        }
        (b, c)
    }

    #[test]
    fn in_order_retransmitted_and_overlapping_segments() {
        let (b, _) = feed(
            &[
                (100, b"hel"),
                (100, b"hel"),
                (102, b"llo "),
                (106, b"world"),
            ],
            64,
        );
        assert_eq!(b.bytes(), b"hello world");
    }

    #[test]
    fn an_early_segment_waits_for_its_gap() {
        let (b, _) = feed(&[(0, b"ab"), (4, b"ef"), (2, b"cd")], 64);
        assert_eq!(b.bytes(), b"abcdef");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let (b, _) = feed(&[(u32::MAX - 1, b"ab"), (0, b"cd")], 64);
        assert_eq!(b.bytes(), b"abcd");
    }

    #[test]
    fn the_cap_holds_and_is_counted() {
        let mut b = StreamBuffer::default();
        let mut c = ReassemblyCounters::default();
        assert_eq!(b.append(0, b"abcd", 6, &mut c), Appended::Grew);
        assert_eq!(b.append(4, b"efgh", 6, &mut c), Appended::Ended);
        assert_eq!(b.bytes(), b"abcdef");
        assert_eq!(c.truncated, 1);
    }

    #[test]
    fn a_gap_that_never_fills_ends_the_direction() {
        let mut b = StreamBuffer::default();
        let mut c = ReassemblyCounters::default();
        b.append(0, b"a", 64, &mut c);
        let mut last = Appended::Nothing;
        for i in 0..=MAX_PENDING as u32 {
            last = b.append(10 + i * 10, b"x", 64, &mut c);
        }
        assert_eq!(last, Appended::Ended);
        assert_eq!(c.gaps, 1);
        assert_eq!(b.bytes(), b"a");
    }
}
