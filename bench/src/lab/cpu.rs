//! CPU time of server processes, from `/proc/<pid>/stat`: what each
//! private server spent during a measured step, to tell whether the
//! machine's cores or the tool limit a speed-up.

use std::time::Duration;

/// User plus system CPU time of process `pid` so far (all its threads),
/// `None` when it cannot be read.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(ticks(utime + stime))
}

/// The CPU time of every process in `pids`, in order.
pub fn snapshot(pids: &[u32]) -> Vec<Duration> {
    pids.iter()
        .map(|&pid| process_cpu(pid).unwrap_or_default())
        .collect()
}

/// `after - before`, element by element.
pub fn spent(before: &[Duration], after: &[Duration]) -> Vec<Duration> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| a.saturating_sub(*b))
        .collect()
}

fn ticks(n: u64) -> Duration {
    // SAFETY: sysconf(3) has no memory-safety requirements.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_nanos(n * 1_000_000_000 / per_second)
}

/// The whole machine's CPU time so far (`/proc/stat`, every core): busy
/// (user, nice, system, irq, softirq, steal) and waiting for I/O.
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine {
    pub busy: Duration,
    pub iowait: Duration,
}

impl Machine {
    pub fn now() -> Machine {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
            return Machine::default();
        };
        let n: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let at = |i: usize| n.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest time is
        // already in user).
        Machine {
            busy: ticks(at(0) + at(1) + at(2) + at(5) + at(6) + at(7)),
            iowait: ticks(at(4)),
        }
    }

    /// `self - before`.
    pub fn since(&self, before: &Machine) -> Machine {
        Machine {
            busy: self.busy.saturating_sub(before.busy),
            iowait: self.iowait.saturating_sub(before.iowait),
        }
    }
}
