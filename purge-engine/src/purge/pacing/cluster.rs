//! Galera flow control: a node whose receive queue grows past its limit
//! pauses every node's writers until it catches up. A purge waits while the
//! cluster has paused since the last look, or while this node's queues are
//! long, rather than add write sets to a cluster that cannot take them.

use std::cell::Cell;

use purge_api::Db;

use super::Hold;
use crate::database::server::pairs;
use crate::error::Error;

/// Queue lengths beyond this hold the next batch: Galera's own default
/// `gcs.fc_limit` (16), where a node starts asking the others to pause.
const QUEUE_LIMIT: u64 = 16;

pub(super) struct ClusterWatch {
    db: Db,
    /// `wsrep_flow_control_paused_ns` at the last look.
    paused_ns: Cell<Option<u64>>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct FlowControl {
    paused_ns: u64,
    recv_queue: u64,
    send_queue: u64,
}

impl ClusterWatch {
    pub fn new(db: Db) -> ClusterWatch {
        ClusterWatch {
            db,
            paused_ns: Cell::new(None),
        }
    }

    pub async fn hold(&self) -> Result<Option<Hold>, Error> {
        let now = self.read().await?;
        let paused_ms = self
            .paused_ns
            .replace(Some(now.paused_ns))
            .map_or(0, |before| now.paused_ns.saturating_sub(before) / 1_000_000);
        Ok(judge(&now, paused_ms))
    }

    async fn read(&self) -> Result<FlowControl, Error> {
        let Db::MySql(pool) = &self.db else {
            return Ok(FlowControl::default());
        };
        let rows = sqlx::query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN \
             ('wsrep_flow_control_paused_ns', 'wsrep_local_recv_queue', 'wsrep_local_send_queue')",
        )
        .fetch_all(pool)
        .await
        .map_err(|e| Error::database("cannot read the Galera flow-control status", e))?;
        let rows = pairs(rows);
        let get = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(FlowControl {
            paused_ns: get("wsrep_flow_control_paused_ns"),
            recv_queue: get("wsrep_local_recv_queue"),
            send_queue: get("wsrep_local_send_queue"),
        })
    }
}

/// Why the cluster cannot take another batch now, if it cannot.
fn judge(now: &FlowControl, paused_ms: u64) -> Option<Hold> {
    if paused_ms > 0 {
        return Some(Hold(format!(
            "the Galera cluster paused writes for flow control ({paused_ms} ms since the last look)"
        )));
    }
    if now.recv_queue > QUEUE_LIMIT || now.send_queue > QUEUE_LIMIT {
        return Some(Hold(format!(
            "this Galera node's queues are long (wsrep_local_recv_queue {}, wsrep_local_send_queue {}; limit {QUEUE_LIMIT})",
            now.recv_queue, now.send_queue
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_control_pause_or_a_long_queue_holds_the_next_batch() {
        let calm = FlowControl::default();
        assert_eq!(judge(&calm, 0), None);
        assert!(judge(&calm, 3).unwrap().0.contains("3 ms"));
        let queued = FlowControl {
            recv_queue: 17,
            ..FlowControl::default()
        };
        assert!(judge(&queued, 0)
            .unwrap()
            .0
            .contains("wsrep_local_recv_queue 17"));
        let at_limit = FlowControl {
            send_queue: QUEUE_LIMIT,
            ..FlowControl::default()
        };
        assert_eq!(judge(&at_limit, 0), None);
    }
}
