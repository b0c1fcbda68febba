//! Per-receiver bookkeeping of which `(sender, seq)` messages arrived, one bit each, so loss and
//! duplicates are counted exactly without a hash set per delivery.

/// Outcome of recording one received data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// First delivery of an expected message.
    New,
    /// The message was already delivered to this receiver.
    Duplicate,
    /// A sender this receiver shares no channel with, or a sequence number past the plan.
    Unexpected,
}

/// The set of messages one receiver has seen, over the senders it can hear.
#[derive(Debug, Clone)]
pub struct Receipts {
    /// Sender indices in ascending order; position `i` owns bits `i * per_sender ..`.
    senders: Vec<u32>,
    per_sender: u32,
    bits: Vec<u64>,
}

impl Receipts {
    /// Track `per_sender` messages from each of `senders` (duplicates in the list are merged).
    pub fn new(mut senders: Vec<u32>, per_sender: u32) -> Self {
        senders.sort_unstable();
        senders.dedup();
        let total = senders.len() as u64 * u64::from(per_sender);
        Self {
            senders,
            per_sender,
            bits: vec![0; total.div_ceil(64) as usize],
        }
    }

    /// Record one delivery of `(sender, seq)`.
    pub fn record(&mut self, sender: u32, seq: u32) -> Receipt {
        if seq >= self.per_sender {
            return Receipt::Unexpected;
        }
        let Ok(position) = self.senders.binary_search(&sender) else {
            return Receipt::Unexpected;
        };
        let bit = position as u64 * u64::from(self.per_sender) + u64::from(seq);
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        if self.bits[word] & mask != 0 {
            Receipt::Duplicate
        } else {
            self.bits[word] |= mask;
            Receipt::New
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_new_then_duplicate() {
        let mut receipts = Receipts::new(vec![9, 3, 3], 70);
        assert_eq!(receipts.record(3, 0), Receipt::New);
        assert_eq!(receipts.record(3, 69), Receipt::New);
        assert_eq!(receipts.record(9, 0), Receipt::New);
        assert_eq!(receipts.record(9, 69), Receipt::New);
        assert_eq!(receipts.record(3, 0), Receipt::Duplicate);
        assert_eq!(receipts.record(9, 69), Receipt::Duplicate);
    }

    #[test]
    fn unknown_senders_and_sequences_are_unexpected() {
        let mut receipts = Receipts::new(vec![1], 5);
        assert_eq!(receipts.record(2, 0), Receipt::Unexpected);
        assert_eq!(receipts.record(1, 5), Receipt::Unexpected);
        assert_eq!(receipts.record(1, u32::MAX), Receipt::Unexpected);
        let mut empty = Receipts::new(Vec::new(), 0);
        assert_eq!(empty.record(0, 0), Receipt::Unexpected);
    }

    #[test]
    fn every_bit_is_distinct() {
        let mut receipts = Receipts::new(vec![0, 1, 2], 33);
        for sender in 0..3 {
            for seq in 0..33 {
                assert_eq!(receipts.record(sender, seq), Receipt::New);
            }
        }
        for sender in 0..3 {
            for seq in 0..33 {
                assert_eq!(receipts.record(sender, seq), Receipt::Duplicate);
            }
        }
    }
}
