//! Call ids: the name of one call in its span and its access-log line, unique within the
//! process, made without a lock or an allocation.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many ids a thread takes from the process-wide counter at a time: the counter is
/// touched once per this many calls of a thread.
const BLOCK: u64 = 1 << 20;

/// The first id of the next block any thread takes.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's next id and the end of its block.
    static BLOCK_LEFT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// One call's id, shown as 16 hex digits. No two calls of a process share one (until 2^64
/// calls): each thread hands out ids from blocks it takes whole from a process-wide counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CallId(u64);

impl CallId {
    /// A fresh id: a thread-local increment, and once per [`BLOCK`] calls an atomic add.
    pub(crate) fn next() -> CallId {
        BLOCK_LEFT.with(|left| {
            let (mut id, mut end) = left.get();
            if id == end {
                id = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = id.wrapping_add(BLOCK);
            }
            left.set((id.wrapping_add(1), end));
            CallId(id)
        })
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two threads, each going past the end of its first block.
    #[test]
    fn ids_are_unique_across_threads_and_blocks() {
        let per_thread = BLOCK as usize + 1;
        let take = move || {
            (0..per_thread)
                .map(|_| CallId::next().0)
                .collect::<Vec<_>>()
        };
        let threads = [std::thread::spawn(take), std::thread::spawn(take)];
        let mut ids = threads.map(|t| t.join().unwrap()).concat();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2 * per_thread);
    }

    #[test]
    fn renders_as_sixteen_hex_digits() {
        assert_eq!(CallId(0x2a).to_string(), "000000000000002a");
    }
}
