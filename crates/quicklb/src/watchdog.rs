//! The optional watchdog: a thread that aborts the process when a balancer
//! collective has not completed within its limit (a rank that never joins would
//! otherwise leave the others waiting for ever).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What the watched rank is doing.
#[derive(Debug, Default)]
struct State {
    /// The call in progress and its deadline.
    armed: Option<(&'static str, u64, Instant)>,
    /// The balancer was dropped: the thread ends.
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Owner side of the watchdog thread (stops it when dropped).
#[derive(Debug)]
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    limit: Duration,
}

impl Watchdog {
    /// Starts the thread for `rank` with `limit` per collective.
    pub(crate) fn start(rank: usize, limit: Duration) -> Self {
        let shared = Arc::new(Shared::default());
        let watched = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("quicklb-watchdog-{rank}"))
            .spawn(move || watch(&watched, rank, limit))
            .expect("the watchdog thread starts");
        Watchdog { shared, limit }
    }

    /// Watches `call` (at `step`) until the returned guard is dropped.
    pub(crate) fn arm(&self, call: &'static str, step: u64) -> Armed {
        let mut s = self.shared.lock();
        s.armed = Some((call, step, Instant::now() + self.limit));
        drop(s);
        self.shared.wake.notify_one();
        Armed {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

/// A watched call in progress; dropping it (also on an early return) disarms.
pub(crate) struct Armed {
    shared: Arc<Shared>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.shared.lock().armed = None;
    }
}

/// Arms `dog` if there is one.
pub(crate) fn arm(dog: Option<&Watchdog>, call: &'static str, step: u64) -> Option<Armed> {
    dog.map(|d| d.arm(call, step))
}

fn watch(shared: &Shared, rank: usize, limit: Duration) {
    let mut s = shared.lock();
    loop {
        if s.stop {
            return;
        }
        match s.armed {
            None => {
                s = shared.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
            Some((call, step, deadline)) => {
                let now = Instant::now();
                if now >= deadline {
                    eprintln!(
                        "quicklb watchdog: {call} on rank {rank} (step {step}) did not complete \
                         within {:.3} s: another rank is not taking part (e.g. it skipped the \
                         call or failed); aborting the job",
                        limit.as_secs_f64()
                    );
                    // Not MPI_Abort: MPI may not be called from this thread. The
                    // launcher ends the other ranks when this one dies.
                    std::process::abort();
                }
                s = shared
                    .wake
                    .wait_timeout(s, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}
