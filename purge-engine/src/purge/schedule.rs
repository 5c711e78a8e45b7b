//! Which cells run when, with `--jobs N`: at most N at once, never two on
//! the same database server, each started as soon as it may in the order
//! given (cell_mappings order). Two cells on one server at once would only
//! share that server's disks and locks, so concurrency goes to cells on
//! different servers. Everything runs on the caller's task: the engine's
//! state is not `Send`, and the work waits on databases, not on the CPU.

use std::collections::HashSet;
use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// One piece of work, with the server it loads when known (a cell whose
/// URL could not even be built loads none).
pub struct Job<F> {
    pub server: Option<String>,
    pub work: F,
}

/// How far a schedule is, for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub running: usize,
    pub finished: usize,
    pub total: usize,
}

/// Runs `jobs` at most `parallel` at once and never two with the same
/// server, and returns their outputs in the order given. Once `stop` says
/// so no more jobs start; those that did not start have no output.
/// `progress` hears of every start and end.
pub async fn run<F: Future>(
    parallel: usize,
    jobs: Vec<Job<F>>,
    stop: impl Fn() -> bool,
    mut progress: impl FnMut(Counts),
) -> Vec<Option<F::Output>> {
    let total = jobs.len();
    let mut outputs: Vec<Option<F::Output>> = (0..total).map(|_| None).collect();
    let mut waiting: Vec<(usize, Job<F>)> = jobs.into_iter().enumerate().collect();
    let mut busy: HashSet<String> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut finished = 0;
    loop {
        while running.len() < parallel.max(1) && !stop() {
            let free = waiting.iter().position(|(_, job)| {
                job.server
                    .as_ref()
                    .is_none_or(|server| !busy.contains(server))
            });
            let Some(next) = free else { break };
            let (index, job) = waiting.remove(next);
            if let Some(server) = &job.server {
                busy.insert(server.clone());
            }
            let server = job.server;
            let work = job.work;
            running.push(async move { (index, server, work.await) });
            progress(Counts {
                running: running.len(),
                finished,
                total,
            });
        }
        let Some((index, server, output)) = running.next().await else {
            break;
        };
        if let Some(server) = server {
            busy.remove(&server);
        }
        outputs[index] = Some(output);
        finished += 1;
        progress(Counts {
            running: running.len(),
            finished,
            total,
        });
    }
    outputs
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;

    /// Jobs that log their start and end, and last `ms`.
    fn jobs<'a>(
        log: &'a RefCell<Vec<String>>,
        specs: &[(&'static str, Option<&str>, u64)],
    ) -> Vec<Job<impl Future<Output = &'static str> + 'a>> {
        specs
            .iter()
            .map(|&(name, server, ms)| Job {
                server: server.map(str::to_owned),
                work: async move {
                    log.borrow_mut().push(format!("+{name}"));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    log.borrow_mut().push(format!("-{name}"));
                    name
                },
            })
            .collect()
    }

    #[tokio::test]
    async fn outputs_keep_the_order_given_whatever_order_jobs_end_in() {
        let log = RefCell::new(Vec::new());
        let specs = [("a", Some("s1"), 30), ("b", Some("s2"), 10), ("c", None, 1)];
        let out = run(3, jobs(&log, &specs), || false, |_| {}).await;
        assert_eq!(out, [Some("a"), Some("b"), Some("c")]);
        assert_eq!(log.borrow()[..3], ["+a", "+b", "+c"], "all three at once");
        assert_eq!(log.borrow().last().unwrap(), "-a");
    }

    #[tokio::test]
    async fn two_jobs_on_one_server_never_overlap_and_a_later_free_one_goes_first() {
        let log = RefCell::new(Vec::new());
        let specs = [
            ("a", Some("s1"), 20),
            ("b", Some("s1"), 5),
            ("c", Some("s2"), 5),
        ];
        let out = run(2, jobs(&log, &specs), || false, |_| {}).await;
        assert_eq!(out, [Some("a"), Some("b"), Some("c")]);
        let log = log.borrow();
        assert_eq!(
            log[..2],
            ["+a", "+c"],
            "c skips ahead of b, whose server is busy"
        );
        let a_ends = log.iter().position(|e| e == "-a").unwrap();
        let b_starts = log.iter().position(|e| e == "+b").unwrap();
        assert!(a_ends < b_starts, "{log:?}");
    }

    #[tokio::test]
    async fn one_at_a_time_runs_them_in_turn() {
        let log = RefCell::new(Vec::new());
        let specs = [("a", Some("s1"), 5), ("b", Some("s2"), 1), ("c", None, 1)];
        let mut seen = Vec::new();
        run(1, jobs(&log, &specs), || false, |c| seen.push(c)).await;
        assert_eq!(*log.borrow(), ["+a", "-a", "+b", "-b", "+c", "-c"]);
        assert_eq!(
            seen.last().map(|c| (c.running, c.finished, c.total)),
            Some((0, 3, 3))
        );
    }

    #[tokio::test]
    async fn once_stopped_no_job_starts() {
        let log = RefCell::new(Vec::new());
        let stopped = std::cell::Cell::new(false);
        let specs = [("a", Some("s1"), 5), ("b", Some("s2"), 1)];
        let out = run(
            1,
            jobs(&log, &specs),
            || stopped.get(),
            |c| stopped.set(c.finished > 0),
        )
        .await;
        assert_eq!(out, [Some("a"), None]);
    }
}
