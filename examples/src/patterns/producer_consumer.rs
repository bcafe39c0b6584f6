//! Producer–consumer: rank 0 (the master) hands out tasks one at a time; the
//! workers (ranks 1…) take whatever arrives with a probe for **any source and any
//! tag** (`MPI_Mprobe` with `MPI_ANY_SOURCE`, `MPI_ANY_TAG`), size their buffer from
//! the probed status (`MPI_Get_count`), and act on the tag: a task (whose message
//! length varies from task to task) is computed and its result sent back; a stop
//! message (empty) ends the worker. The master also probes for any source, so a
//! fast worker gets the next task first. Every task is done exactly once and every
//! worker is stopped exactly once, which [`run`] checks.
//!
//! Task `t` carries `1 + (37 t mod 50)` numbers `t + 1, t + 2, …`; its result is
//! the sum of their squares. A task may be given a cost (`task_ms * (t mod 4)`
//! milliseconds of sleep) so that the hand-out order visibly adapts to the workers.
//!
//! With one rank there are no workers: rank 0 does every task itself (same checks).

use std::time::Duration;

use mpi::datatype::Equivalence;
use mpi::topology::{Communicator, Rank};
use mpi::traits::*;

use super::{Error, Result};

/// Tag of a task message (master to worker): `[t, data...]`.
pub const TAG_TASK: i32 = 1;
/// Tag of a result message (worker to master): `[t, result]`.
pub const TAG_RESULT: i32 = 2;
/// Tag of the (empty) stop message (master to worker).
pub const TAG_STOP: i32 = 3;

/// The numbers carried by task `t`.
pub fn task_data(t: usize) -> Vec<i64> {
    let len = 1 + (37 * t) % 50;
    (1..=len as i64).map(|j| t as i64 + j).collect()
}

/// The result of task `t` as the master expects it, computed directly.
pub fn expected_result(t: usize) -> i64 {
    task_data(t).iter().map(|x| x * x).sum()
}

/// What a worker computes from a task's data.
fn compute(data: &[i64], task_ms: u64, t: usize) -> i64 {
    if task_ms > 0 {
        std::thread::sleep(Duration::from_millis(task_ms * (t as u64 % 4)));
    }
    data.iter().map(|x| x * x).sum()
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConsumerSummary {
    /// Number of tasks.
    pub tasks: usize,
    /// Number of ranks.
    pub size: i32,
    /// Tasks this rank computed.
    pub done_here: Vec<usize>,
    /// On rank 0: the rank that did each task, indexed by task. `None` elsewhere.
    pub done_by: Option<Vec<Rank>>,
    /// On rank 0: the number of tasks every rank reports it did, indexed by rank.
    pub reported: Option<Vec<u64>>,
}

/// Runs the master (rank 0) and the workers (collective over `comm`).
pub fn run<C: Communicator>(
    comm: &C,
    tasks: usize,
    task_ms: u64,
) -> Result<ProducerConsumerSummary> {
    let (rank, size) = (comm.rank(), comm.size());
    let (done_here, done_by) = if size == 1 {
        let mut done_by = vec![0; tasks];
        let mut done_here = Vec::with_capacity(tasks);
        for (t, who) in done_by.iter_mut().enumerate() {
            let result = compute(&task_data(t), task_ms, t);
            check_result(t, result)?;
            *who = 0;
            done_here.push(t);
        }
        (done_here, Some(done_by))
    } else if rank == 0 {
        (Vec::new(), Some(master(comm, tasks)?))
    } else {
        (worker(comm, task_ms)?, None)
    };

    // Cross-check: what every rank says it did against the master's record.
    let mine = done_here.len() as u64;
    let root = comm.process_at_rank(0);
    let reported = if rank == 0 {
        let mut all = vec![0u64; size as usize];
        root.gather_into_root(&mine, &mut all[..]);
        Some(all)
    } else {
        root.gather_into(&mine);
        None
    };
    if let (Some(by), Some(counts)) = (&done_by, &reported) {
        for (r, &count) in counts.iter().enumerate() {
            let recorded = by.iter().filter(|&&w| w == r as Rank).count() as u64;
            if recorded != count {
                return Err(Error::Check(format!(
                    "rank {r} reports {count} tasks, the master recorded {recorded}"
                )));
            }
        }
    }
    Ok(ProducerConsumerSummary {
        tasks,
        size,
        done_here,
        done_by,
        reported,
    })
}

fn check_result(t: usize, result: i64) -> Result<()> {
    if result == expected_result(t) {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "task {t}: result {result}, expected {}",
            expected_result(t)
        )))
    }
}

/// Sends task `t` to `worker`.
fn send_task<C: Communicator>(comm: &C, worker: Rank, t: usize) {
    let mut message = vec![t as i64];
    message.extend(task_data(t));
    comm.process_at_rank(worker)
        .send_with_tag(&message[..], TAG_TASK);
}

/// Sends the empty stop message to `worker`.
fn send_stop<C: Communicator>(comm: &C, worker: Rank) {
    let nothing: [i64; 0] = [];
    comm.process_at_rank(worker)
        .send_with_tag(&nothing[..], TAG_STOP);
}

/// Receives the message announced by a matched probe of any source and any tag,
/// sized from its status. Returns (source, tag, contents).
fn receive_any<C: Communicator>(comm: &C) -> (Rank, i32, Vec<i64>) {
    let (message, status) = comm.any_process().matched_probe();
    let count = status.count(i64::equivalent_datatype());
    let mut buffer = vec![0i64; usize::try_from(count).unwrap_or(0)];
    message.matched_receive_into(&mut buffer[..]);
    (status.source_rank(), status.tag(), buffer)
}

/// The master: returns which worker did each task.
fn master<C: Communicator>(comm: &C, tasks: usize) -> Result<Vec<Rank>> {
    let size = comm.size();
    let mut done_by: Vec<Option<Rank>> = vec![None; tasks];
    let mut next = 0;
    let mut busy = 0;
    // One task (or the stop message) for every worker to start with.
    for worker in 1..size {
        if next < tasks {
            send_task(comm, worker, next);
            next += 1;
            busy += 1;
        } else {
            send_stop(comm, worker);
        }
    }
    while busy > 0 {
        let (worker, tag, message) = receive_any(comm);
        if tag != TAG_RESULT || message.len() != 2 {
            return Err(Error::Check(format!(
                "master: unexpected message from rank {worker}: tag {tag}, {} numbers",
                message.len()
            )));
        }
        let (t, result) = (message[0] as usize, message[1]);
        match done_by.get_mut(t) {
            Some(slot @ None) => *slot = Some(worker),
            Some(Some(first)) => {
                return Err(Error::Check(format!(
                    "task {t} done twice, by rank {first} and rank {worker}"
                )))
            }
            None => {
                return Err(Error::Check(format!(
                    "rank {worker} returned unknown task {t}"
                )))
            }
        }
        check_result(t, result)?;
        if next < tasks {
            send_task(comm, worker, next);
            next += 1;
        } else {
            send_stop(comm, worker);
            busy -= 1;
        }
    }
    done_by
        .into_iter()
        .enumerate()
        .map(|(t, w)| w.ok_or_else(|| Error::Check(format!("task {t} was never done"))))
        .collect()
}

/// A worker: probes for anything, computes tasks until the stop message. Returns
/// the tasks it did.
fn worker<C: Communicator>(comm: &C, task_ms: u64) -> Result<Vec<usize>> {
    let rank = comm.rank();
    let mut done = Vec::new();
    loop {
        let (source, tag, message) = receive_any(comm);
        match tag {
            TAG_TASK if !message.is_empty() => {
                let t = message[0] as usize;
                let result = compute(&message[1..], task_ms, t);
                let reply = [t as i64, result];
                comm.process_at_rank(source)
                    .send_with_tag(&reply[..], TAG_RESULT);
                done.push(t);
            }
            TAG_STOP if message.is_empty() => return Ok(done),
            _ => {
                return Err(Error::Check(format!(
                    "rank {rank}: unexpected message from rank {source}: tag {tag}, {} numbers",
                    message.len()
                )))
            }
        }
    }
}

impl ProducerConsumerSummary {
    /// The lines rank 0 prints (empty on other ranks).
    pub fn lines(&self) -> Vec<String> {
        let Some(done_by) = &self.done_by else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.size == 1 {
            out.push(format!(
                "producer-consumer: {} tasks on 1 rank: no workers, so rank 0 did every task itself (run with -n 2 or more for the master/worker exchange)",
                self.tasks
            ));
        } else {
            out.push(format!(
                "producer-consumer: {} tasks (1 to 50 numbers each), master rank 0, {} workers probing for any source and tag",
                self.tasks,
                self.size - 1
            ));
        }
        for r in 0..self.size {
            let mine: Vec<usize> = (0..self.tasks).filter(|&t| done_by[t] == r).collect();
            if r == 0 && self.size > 1 {
                continue;
            }
            out.push(format!("rank {r} did {} tasks: {mine:?}", mine.len()));
        }
        out.push(format!(
            "every task done exactly once with the right result; {} stopped cleanly",
            if self.size == 1 {
                "rank 0".to_string()
            } else {
                format!("all {} workers", self.size - 1)
            }
        ));
        out
    }
}
