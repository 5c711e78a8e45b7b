//! The registry as linked into the real binary.

use nova_purge_tests::nova_purge;

/// Fails when the plugins crate is not linked, when a file in
/// `purge-plugins/src/targets/` registers no target or more than one, or
/// when a registration of the plugins crate comes from anywhere else.
#[test]
fn every_target_file_registers_exactly_once_and_is_linked() {
    let registry = purge_api::Registry::load().expect("a valid registry");
    let files: Vec<&str> = purge_plugins::target_files().collect();
    assert!(!files.is_empty(), "purge-plugins/src/targets/ is empty");
    let from_plugins: Vec<_> = registry
        .iter()
        .filter(|r| r.defined_at.module.starts_with("purge_plugins::"))
        .collect();
    for file in &files {
        let suffix = format!("src/{file}.rs");
        let registrations: Vec<&str> = from_plugins
            .iter()
            .filter(|r| r.defined_at.file.ends_with(&suffix))
            .map(|r| r.name())
            .collect();
        assert_eq!(
            registrations.len(),
            1,
            "{suffix} must register exactly one target, registers {registrations:?}"
        );
    }
    for registration in &from_plugins {
        let file = registration.defined_at.file;
        assert!(
            files
                .iter()
                .any(|stem| file.ends_with(&format!("src/{stem}.rs"))),
            "{} is registered from {file}, outside src/targets/ and src/rows/",
            registration.name()
        );
    }
}

#[test]
fn targets_lists_every_target_in_a_valid_order() {
    let run = nova_purge(&["targets", "--format", "json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let listing = run.json();
    let listing = listing.as_array().expect("a JSON array");
    let names: Vec<&str> = listing
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let registry = purge_api::Registry::load().expect("a valid registry");
    let expected: Vec<&str> = registry.iter().map(|r| r.name()).collect();
    assert_eq!(
        names, expected,
        "the binary lists other targets, or in another order"
    );
    // The cell database's targets first, `instances` last among them; then
    // the API database's.
    // The instances scope comes first, then the others, each scope whole.
    let scopes: Vec<&str> = listing
        .iter()
        .map(|t| t["scope"].as_str().unwrap())
        .collect();
    let mut seen: Vec<&str> = scopes.clone();
    seen.dedup();
    assert_eq!(
        seen,
        ["instances", "rows", "task-log", "shadow"],
        "{scopes:?}"
    );
    let instances: Vec<&serde_json::Value> = listing
        .iter()
        .filter(|t| t["scope"] == "instances")
        .collect();
    let names: Vec<&str> = instances
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    let cell: Vec<&str> = instances
        .iter()
        .filter(|t| t["database"] == "cell")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(cell.last(), Some(&"instances"));
    assert_eq!(&names[..cell.len()], &cell[..], "cell targets come first");
    let api: Vec<&str> = names[cell.len()..].to_vec();
    for name in [
        "build_requests",
        "instance_group_member",
        "instance_mappings",
        "request_specs",
    ] {
        assert!(api.contains(&name), "{name} is not an API target: {api:?}");
    }
    assert!(position("instance_actions_events") < position("instance_actions"));
    for target in listing {
        for key in ["name", "scope", "table", "database", "link", "defined_at"] {
            assert!(target[key].is_string(), "{key} missing in {target}");
        }
    }
    let tags = listing.iter().find(|t| t["name"] == "tags").unwrap();
    assert_eq!(tags["link"], "resource_id = instances.uuid");
    assert!(tags["defined_at"]
        .as_str()
        .unwrap()
        .starts_with("purge_plugins::targets::tags:"));
    let text = nova_purge(&["targets"], &[]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("pci_devices") && text.stdout.contains("deleted <> 0"),
        "{}",
        text.stdout
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definition() {
    let bash = nova_purge(&["completions", "bash"], &[]);
    assert_eq!(bash.code, 0, "{bash:?}");
    for needle in [
        "--older-than",
        "--all-cells",
        "--config-file",
        "purge-deleted-instances",
    ] {
        assert!(
            bash.stdout.contains(needle),
            "{needle} missing from the bash completions"
        );
    }
    let man = nova_purge(&["man"], &[]);
    assert_eq!(man.code, 0, "{man:?}");
    assert!(
        man.stdout.contains(".TH nova-purge 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert!(man.stdout.contains("purge"));
}
