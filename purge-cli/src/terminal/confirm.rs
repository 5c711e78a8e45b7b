//! Asking before nova-purge changes a database: on a terminal, a question
//! answered with `yes`; without one (or with JSON logs, where a question
//! would be a line that is not JSON), a refusal unless `--yes` was given,
//! so that a script never changes anything it was not told to.

use std::io::{self, BufRead, IsTerminal};

use purge_engine::untrusted::escape;
use purge_engine::{Error, Observer};

/// What is asked for, in the words of the refusal.
pub struct Action {
    /// "delete", as in "refusing to delete without confirmation".
    verb: &'static str,
    /// "deleted", as in "nothing was deleted".
    done: &'static str,
}

pub const DELETE: Action = Action {
    verb: "delete",
    done: "deleted",
};

pub const CREATE_INDEXES: Action = Action {
    verb: "create indexes",
    done: "created",
};

/// Asks `question` on stderr and reads the answer from the terminal.
pub fn ask(assume_yes: bool, json_logs: bool, action: Action, question: &str) -> Result<(), Error> {
    if assume_yes {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(Error::Input(format!(
            "refusing to {} without confirmation: {why}; pass --yes (and consider --dry-run first)",
            action.verb
        )))
    };
    if json_logs {
        return refuse("--log-format json never prompts");
    }
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return refuse("standard input is not a terminal");
    }
    eprint!("{question} Type 'yes' to continue: ");
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Input(format!("cannot read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(Error::Input(format!(
            "not confirmed; nothing was {}",
            action.done
        )));
    }
    Ok(())
}

/// `create-indexes`' observer: it only asks, listing every statement.
pub struct IndexConfirmation {
    /// `--yes`: confirmed in advance.
    pub assume_yes: bool,
    /// `--log-format json`: never prompts.
    pub json_logs: bool,
}

impl Observer for IndexConfirmation {
    fn confirm_indexes(&self, what: &str, statements: &[String]) -> Result<(), Error> {
        let listed: String = statements
            .iter()
            .map(|s| format!("  {};\n", escape(s)))
            .collect();
        let question = format!(
            "This changes the schema of {}, without blocking Nova's writes:\n{listed}Create these indexes?",
            escape(what)
        );
        ask(self.assume_yes, self.json_logs, CREATE_INDEXES, &question)
    }
}
