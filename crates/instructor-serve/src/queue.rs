//! The bounded queue in front of the engine: `parallel` generations at once, up to `waiting`
//! more requests waiting; anything beyond is refused at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub(crate) struct Queue {
    slots: Arc<Semaphore>,
    parallel: usize,
    capacity: usize,
    admitted: Arc<AtomicUsize>,
}

/// An admitted request (running or waiting). Dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Ticket {
    admitted: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Queue {
    pub fn new(parallel: usize, waiting: usize) -> Self {
        let parallel = parallel.max(1);
        Queue {
            slots: Arc::new(Semaphore::new(parallel)),
            parallel,
            capacity: parallel + waiting,
            admitted: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place in the queue, or `None` when it is full.
    pub fn admit(&self) -> Option<Ticket> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1))
            .ok()
            .map(|_| Ticket { admitted: Arc::clone(&self.admitted) })
    }

    /// Waits for a free slot. The ticket stays with the caller until the work is done.
    /// (`None` only if the semaphore were closed, which it never is.)
    pub async fn slot(&self, _ticket: &Ticket) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).acquire_owned().await.ok()
    }

    /// Generations running now.
    pub fn running(&self) -> usize {
        self.parallel - self.slots.available_permits()
    }

    /// Requests admitted and waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.admitted.load(Ordering::Acquire).saturating_sub(self.running())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_parallel_plus_waiting() {
        let queue = Queue::new(1, 1);
        let a = queue.admit().expect("first");
        let b = queue.admit().expect("second waits");
        assert!(queue.admit().is_none(), "third is refused");
        let permit = queue.slot(&a).await.expect("a slot");
        assert_eq!((queue.running(), queue.waiting()), (1, 1));
        drop((a, permit));
        assert!(queue.admit().is_some());
        drop(b);
    }
}
