//! The webhook's bounded queue: deliveries leave in arrival order, and a full queue drops its
//! lowest-severity delivery — a new low alert never pushes out a waiting critical one.

use std::collections::VecDeque;

use haechi_detect::Severity;

/// A bounded queue of items with a severity.
#[derive(Debug)]
pub(super) struct SeverityQueue<T> {
    items: VecDeque<(Severity, T)>,
    capacity: usize,
}

impl<T> SeverityQueue<T> {
    /// An empty queue holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        SeverityQueue {
            items: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds `item`. When the queue is full, the item of the lowest severity — the newest of
    /// those, so that among equals the ones waiting longest go first — is dropped and
    /// returned; that may be `item` itself.
    pub fn push(&mut self, severity: Severity, item: T) -> Option<(Severity, T)> {
        if self.items.len() < self.capacity {
            self.items.push_back((severity, item));
            return None;
        }
        // The lowest severity waiting, newest first among equals.
        let victim = self
            .items
            .iter()
            .enumerate()
            .rev()
            .min_by_key(|(_, (waiting, _))| *waiting)
            .map(|(position, (waiting, _))| (position, *waiting));
        match victim {
            Some((position, waiting)) if waiting < severity => {
                let dropped = self.items.remove(position);
                self.items.push_back((severity, item));
                dropped
            }
            _ => Some((severity, item)),
        }
    }

    /// The oldest item.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front().map(|(_, item)| item)
    }

    /// How many items wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_lowest_severity_first() {
        let mut queue = SeverityQueue::new(4);
        assert!(queue.push(Severity::Medium, "medium1").is_none());
        assert!(queue.push(Severity::Low, "low1").is_none());
        assert!(queue.push(Severity::Critical, "critical1").is_none());
        assert!(queue.push(Severity::Low, "low2").is_none());
        // Full: a high pushes out the newest low.
        assert_eq!(
            queue.push(Severity::High, "high1"),
            Some((Severity::Low, "low2"))
        );
        // A low newcomer is itself the lowest (equal to the low waiting, and newer): dropped.
        assert_eq!(
            queue.push(Severity::Low, "low3"),
            Some((Severity::Low, "low3"))
        );
        // A critical pushes out the remaining low, then the medium.
        assert_eq!(
            queue.push(Severity::Critical, "critical2"),
            Some((Severity::Low, "low1"))
        );
        assert_eq!(
            queue.push(Severity::Critical, "critical3"),
            Some((Severity::Medium, "medium1"))
        );
        // Only high and critical left: a high newcomer goes; a critical pushes out the high.
        assert_eq!(
            queue.push(Severity::High, "high2"),
            Some((Severity::High, "high2"))
        );
        assert_eq!(
            queue.push(Severity::Critical, "critical4"),
            Some((Severity::High, "high1"))
        );
        // A queue of criticals drops the newcomer, never one waiting.
        assert_eq!(
            queue.push(Severity::Critical, "critical5"),
            Some((Severity::Critical, "critical5"))
        );
        assert_eq!(queue.len(), 4);
        // Deliveries leave in arrival order.
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, ["critical1", "critical2", "critical3", "critical4"]);
    }
}
