//! `--max-number` as a budget that every cell of a run draws from: right
//! before each batch, after any pause, a cell takes at most what the batch
//! may purge, and after it gives back what it did not purge (skipped
//! instances, fewer candidates than asked for). Cells purged at once
//! (`--jobs`) can then never purge more than N in all, and, as in a run
//! that purges them in turn, stop short of N only when no cell has
//! candidates left.
//!
//! A cell that finds the budget empty while another cell's batch holds a
//! draw waits for that batch to end instead of giving up: the batch may
//! give some back. It gives up when nothing is out, or when the run is
//! cancelled.
//!
//! Each scope has its own budget of N, as each counts its own unit
//! (instances, or rows): [`Budgets`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use purge_api::Scope;
use tokio::sync::Notify;

use crate::control::Cancel;

/// How often a cell waiting for budget looks whether the run was cancelled.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// One scope's `--max-number`, shared by every database of a run. Cheap to
/// clone: the clones are the same budget. Single-threaded, as the cells of
/// a run are polled on one task.
#[derive(Clone)]
pub struct Budget(Rc<State>);

struct State {
    /// Units neither spent nor drawn; `None` when there is no cap.
    left: Cell<Option<u64>>,
    /// Units drawn by batches in flight, some of which may come back.
    out: Cell<u64>,
    returned: Notify,
}

impl Budget {
    /// A budget of `max` units, or none at all.
    pub fn new(max: Option<u64>) -> Budget {
        Budget(Rc::new(State {
            left: Cell::new(max),
            out: Cell::new(0),
            returned: Notify::new(),
        }))
    }

    /// True when every unit is spent: none left, and none out in a batch
    /// that could give some back. Never without a cap.
    pub fn is_spent(&self) -> bool {
        self.0.left.get() == Some(0) && self.0.out.get() == 0
    }

    /// Units neither spent nor drawn (`None`: no cap).
    pub fn left(&self) -> Option<u64> {
        self.0.left.get()
    }

    /// Draws at most `want` units for one batch. Waits while the budget is
    /// empty but other batches hold draws; `None` when it is spent, or when
    /// the run was cancelled while waiting.
    pub async fn draw(&self, want: usize, cancel: &Cancel) -> Option<Grant> {
        let want = u64::try_from(want.max(1)).unwrap_or(u64::MAX);
        loop {
            // Made before looking, so that a give-back in between is seen.
            let returned = self.0.returned.notified();
            let Some(left) = self.0.left.get() else {
                return Some(self.grant(want));
            };
            if left > 0 {
                let units = left.min(want);
                self.0.left.set(Some(left - units));
                self.0.out.set(self.0.out.get() + units);
                return Some(self.grant(units));
            }
            if self.0.out.get() == 0 || cancel.is_cancelled() {
                return None;
            }
            let _ = tokio::time::timeout(CANCEL_CHECK, returned).await;
        }
    }

    fn grant(&self, units: u64) -> Grant {
        Grant {
            budget: self.clone(),
            drawn: units,
            spent: 0,
        }
    }
}

/// Units drawn for one batch. What the batch did not
/// [`spend`](Grant::spend) goes back to the budget then, or when the grant
/// is dropped (the batch failed).
pub struct Grant {
    budget: Budget,
    drawn: u64,
    spent: u64,
}

impl Grant {
    /// The most the batch may take.
    pub fn size(&self) -> usize {
        usize::try_from(self.drawn).unwrap_or(usize::MAX)
    }

    /// Counts the `units` the batch purged (or, in a dry run, would have)
    /// and gives the rest back at once, for a cell that waits for it.
    pub fn spend(mut self, units: u64) {
        debug_assert!(units <= self.drawn, "spent more than drawn");
        self.spent = units.min(self.drawn);
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let state = &self.budget.0;
        if let Some(left) = state.left.get() {
            state.left.set(Some(left + self.drawn - self.spent));
            state.out.set(state.out.get() - self.drawn);
            state.returned.notify_waiters();
        }
    }
}

/// The budgets of a run, one per scope, each of `--max-number` units: the
/// instances scope counts instances, the others rows, each on its own
/// (docs/cli.md, "Scopes").
pub struct Budgets {
    max: Option<u64>,
    by_scope: RefCell<BTreeMap<Scope, Budget>>,
}

impl Budgets {
    pub fn new(max: Option<u64>) -> Budgets {
        Budgets {
            max,
            by_scope: RefCell::default(),
        }
    }

    /// The budget of `scope`, the same one for every database of the run.
    pub fn of(&self, scope: Scope) -> Budget {
        self.by_scope
            .borrow_mut()
            .entry(scope)
            .or_insert_with(|| Budget::new(self.max))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draws_never_exceed_the_budget_and_unspent_units_come_back() {
        let budget = Budget::new(Some(5));
        let cancel = Cancel::new();
        let first = budget.draw(3, &cancel).await.unwrap();
        let second = budget.draw(50, &cancel).await.unwrap();
        assert_eq!((first.size(), second.size()), (3, 2));
        assert_eq!(budget.left(), Some(0));
        first.spend(1);
        assert_eq!(budget.left(), Some(2), "two of three came back");
        drop(second);
        assert_eq!(budget.left(), Some(4));
    }

    #[tokio::test]
    async fn an_empty_budget_waits_for_a_batch_in_flight_then_gets_its_leftover() {
        let budget = Budget::new(Some(4));
        let cancel = Cancel::new();
        let held = budget.draw(10, &cancel).await.unwrap();
        let waiter = budget.draw(10, &cancel);
        let release = async {
            tokio::task::yield_now().await;
            held.spend(3);
        };
        let (grant, ()) = tokio::join!(waiter, release);
        assert_eq!(
            grant.unwrap().size(),
            1,
            "the one unit the batch did not use"
        );
    }

    #[tokio::test]
    async fn a_spent_budget_gives_nothing_and_no_cap_gives_everything() {
        let budget = Budget::new(Some(2));
        let cancel = Cancel::new();
        let grant = budget.draw(10, &cancel).await.unwrap();
        assert!(!budget.is_spent(), "a batch in flight may give some back");
        grant.spend(2);
        assert!(budget.is_spent());
        assert!(budget.draw(1, &cancel).await.is_none());

        let unlimited = Budget::new(None);
        assert_eq!(unlimited.draw(500, &cancel).await.unwrap().size(), 500);
        assert_eq!(unlimited.left(), None);
    }

    #[tokio::test]
    async fn cancelling_ends_a_wait() {
        let budget = Budget::new(Some(1));
        let cancel = Cancel::new();
        let _held = budget.draw(1, &cancel).await.unwrap();
        cancel.cancel();
        assert!(budget.draw(1, &cancel).await.is_none());
    }

    #[test]
    fn each_scope_has_its_own_budget() {
        let budgets = Budgets::new(Some(7));
        let rows = budgets.of(Scope::Rows);
        rows.0.left.set(Some(1));
        assert_eq!(budgets.of(Scope::Rows).left(), Some(1), "the same budget");
        assert_eq!(budgets.of(Scope::Instances).left(), Some(7));
    }
}
