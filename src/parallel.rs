//! CPU-heavy work over a request's many items (a campaign's contacts), spread over every core.
//!
//! A request handler runs on one runtime thread; validating and planning 100,000 contacts
//! there leaves the other cores idle for seconds. [`map`] cuts a slice into one chunk per
//! core and maps each on its own scoped thread, keeping the answers in order. Small inputs are
//! mapped inline: a thread costs more than a few hundred items.

use std::num::NonZeroUsize;

/// Below this many items a slice is mapped on the calling thread.
const INLINE: usize = 2_048;

/// `items.iter().enumerate().map(f).collect()`, on every core for large slices.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if cores == 1 || items.len() < INLINE {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let chunk = items.len().div_ceil(cores);
    let f = &f;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk).enumerate();
        let (_, first) = chunks.next().expect("a non-empty slice");
        let others: Vec<_> = chunks
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, t)| f(c * chunk + i, t))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        let mut out: Vec<R> = Vec::with_capacity(items.len());
        out.extend(first.iter().enumerate().map(|(i, t)| f(i, t)));
        for other in others {
            match other.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_keep_their_order_and_index() {
        for len in [0, 1, 100, super::INLINE, 10_001] {
            let items: Vec<usize> = (0..len).map(|i| i * 3).collect();
            let mapped = super::map(&items, |i, t| (i, *t + 1));
            let expected: Vec<(usize, usize)> = (0..len).map(|i| (i, i * 3 + 1)).collect();
            assert_eq!(mapped, expected, "{len} items");
        }
    }
}
