//! Work spread over the machine's cores with scoped threads: items are taken from a shared
//! counter (so a slow item does not hold up the others) and results come back in item order
//! (so everything built from them is deterministic).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many worker threads to use: the cores available (at least one).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Applies `work` to every item on up to [`threads`] threads and returns the results in item
/// order. The first error stops the taking of further items and is returned.
pub(crate) fn map<T, R, E>(
    items: &[T],
    work: impl Fn(usize, &T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = threads().min(items.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else {
                        break;
                    };
                    let result = work(index, item);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = slots[index].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut results = Vec::with_capacity(items.len());
    let mut first_error = None;
    for slot in slots {
        match slot.into_inner().ok().flatten() {
            Some(Ok(result)) => results.push(result),
            Some(Err(error)) if first_error.is_none() => first_error = Some(error),
            Some(Err(_)) => {}
            // Not taken because an earlier item failed.
            None => {}
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(results),
    }
}
