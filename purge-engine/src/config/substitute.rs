//! oslo.config's `$` substitution in option values: `$name`, `${name}`,
//! `${section.name}`, and `$$` or `\$` for a literal `$`.
//!
//! It knows nothing of files or precedence: the caller passes a lookup
//! that gives a referenced option's value (before substitution) and the
//! section it was found in, so that a reference resolves exactly as a
//! direct lookup would (`lookup.rs`). Only options that are set can be
//! referred to, since nova-purge does not know the defaults Nova registers
//! in code. Errors are fixed phrases that never name the reference: in a
//! connection string, `$word` may be part of a password.

use std::cell::Cell;

/// How deep `$name` references may refer to further references.
const MAX_SUBSTITUTION_DEPTH: usize = 16;

/// How many references one value may resolve in all, and how long it may
/// grow: references that fan out (`a = $b$b`, `b = $c$c`, ...) would
/// otherwise take exponential time and memory.
const MAX_REFERENCES: usize = 1_000;
const MAX_VALUE_LEN: usize = 64 << 10;

const TOO_MUCH: &str =
    "its `$` references expand to too much (more than 1000 references or 64 KiB)";

/// How a reference finds its option: given a section (as written) and a
/// key, the option's value before substitution and the section it was
/// found in, normalized.
pub(super) type Lookup<'a> = dyn Fn(&str, &str) -> Option<(&'a str, String)> + 'a;

/// oslo.config's `string.Template.safe_substitute` with its
/// `[_a-z][._a-z0-9]*` names, for a value of section `group`. Errors never
/// name the reference.
pub(super) fn substitute<'a>(
    value: &str,
    group: &str,
    lookup: &Lookup<'a>,
) -> Result<String, &'static str> {
    let budget = Cell::new(MAX_REFERENCES);
    substitute_at(value, group, lookup, 0, &budget)
}

fn substitute_at<'a>(
    value: &str,
    group: &str,
    lookup: &Lookup<'a>,
    depth: usize,
    budget: &Cell<usize>,
) -> Result<String, &'static str> {
    if depth > MAX_SUBSTITUTION_DEPTH {
        return Err("its `$` references refer to each other in a loop");
    }
    if !value.contains('$') {
        return Ok(value.to_owned());
    }
    // oslo.config reads `\$` as `$$`.
    let value = value.replace("\\$", "$$");
    let mut out = String::with_capacity(value.len());
    let mut rest = value.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(len) = identifier_len(after) {
            out.push_str(&resolve(&after[..len], group, lookup, depth, budget)?);
            rest = &after[len..];
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|inner| identifier_len(inner).map(|len| inner.split_at(len)))
            .and_then(|(name, tail)| Some((name, tail.strip_prefix('}')?)))
        {
            out.push_str(&resolve(name, group, lookup, depth, budget)?);
            rest = tail;
        } else {
            // Not a reference: kept as it is.
            out.push('$');
            rest = after;
        }
        if out.len() > MAX_VALUE_LEN {
            return Err(TOO_MUCH);
        }
    }
    out.push_str(rest);
    if out.len() > MAX_VALUE_LEN {
        return Err(TOO_MUCH);
    }
    Ok(out)
}

/// oslo.config's `StrSubWrapper`: `group.option` or `option` of the
/// current group, else the whole name in `[DEFAULT]`.
fn resolve<'a>(
    name: &str,
    group: &str,
    lookup: &Lookup<'a>,
    depth: usize,
    budget: &Cell<usize>,
) -> Result<String, &'static str> {
    let left = budget.get().checked_sub(1).ok_or(TOO_MUCH)?;
    budget.set(left);
    let found = match name.split_once('.') {
        Some((section, option)) => lookup(section, option),
        None => lookup(group, name),
    }
    .or_else(|| lookup("DEFAULT", name));
    let Some((value, section)) = found else {
        return Err(
            "it refers with `$` to an option that is not set in the configuration \
             (nova-purge does not know Nova's defaults; set that option, or write `$$` \
             for a literal `$`)",
        );
    };
    substitute_at(value, &section, lookup, depth + 1, budget)
}

/// The length of a `[_a-zA-Z][._a-zA-Z0-9]*` name at the start of `text`.
fn identifier_len(text: &str) -> Option<usize> {
    let first = text.chars().next()?;
    if !(first == '_' || first.is_ascii_alphabetic()) {
        return None;
    }
    Some(
        text.find(|c: char| !(c == '_' || c == '.' || c.is_ascii_alphanumeric()))
            .unwrap_or(text.len()),
    )
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{conf, usage, value};

    #[test]
    fn dollar_references_are_substituted_like_oslo_config() {
        let (_dir, config) = conf(&[
            "[DEFAULT]\nstate_path = /var/lib/nova\nname = nova\nnested = $state_path/x\n\
             [database]\nname = cell1\n\
             a = sqlite:///$state_path/nova.sqlite\n\
             b = sqlite:///${state_path}/nova.sqlite\n\
             c = mysql://u:pa$$word@h/db\n\
             d = mysql://u:pa\\$word@h/db\n\
             e = $name and ${DEFAULT.name} and ${database.name}\n\
             f = $nested\n\
             g = cost $5, 100$ and ${ and $-x\n",
        ]);
        let get = |key| value(&config, "database", key).unwrap();
        assert_eq!(get("a"), "sqlite:////var/lib/nova/nova.sqlite");
        assert_eq!(get("b"), "sqlite:////var/lib/nova/nova.sqlite");
        assert_eq!(get("c"), "mysql://u:pa$word@h/db");
        assert_eq!(get("d"), "mysql://u:pa$word@h/db");
        assert_eq!(get("e"), "cell1 and nova and cell1");
        assert_eq!(get("f"), "/var/lib/nova/x");
        assert_eq!(get("g"), "cost $5, 100$ and ${ and $-x");
    }

    #[test]
    fn unresolvable_references_are_errors_that_do_not_name_them() {
        let (_dir, config) = conf(&["[database]\nconnection = mysql://u:SECRET$pw@h/db\n\
             [api_database]\nconnection = sqlite:///$state_path/nova_api.sqlite\n\
             [loop]\na = $b\nb = ${a}\n"]);
        let message = usage(config.database_connection());
        assert!(
            message.contains("[database] connection: it refers with `$`"),
            "{message}"
        );
        assert!(
            !message.contains("SECRET") && !message.contains("pw"),
            "{message}"
        );
        let message = usage(config.api_database_url());
        assert!(
            message.contains("not set in the configuration"),
            "{message}"
        );
        let message = usage(config.get("loop", "a"));
        assert!(message.contains("loop"), "{message}");
    }

    #[test]
    fn references_that_fan_out_are_refused_quickly() {
        // Each level refers to the one below eight times: 8^12 references,
        // within the depth limit, if nothing bounded them.
        let mut text = String::from("[DEFAULT]\nv0 = x\n");
        for level in 1..=12 {
            let refs = format!("$v{}", level - 1).repeat(8);
            text.push_str(&format!("v{level} = {refs}\n"));
        }
        text.push_str("[database]\nconnection = mysql://u:p@h/$v12\n");
        let (_dir, config) = conf(&[&text]);
        let started = std::time::Instant::now();
        let message = usage(config.database_connection());
        assert!(message.contains("expand to too much"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // A modest fan-out still works.
        let (_dir, config) =
            conf(&["[DEFAULT]\na = x\nb = $a$a\nc = $b$b\n[database]\nconnection = $c\n"]);
        assert_eq!(value(&config, "database", "connection").unwrap(), "xxxx");
    }
}
