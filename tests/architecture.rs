//! The shape of the source tree, checked on every test run (ARCHITECTURE.md, "Code map"):
//! inside each crate the modules form layers (no module reaches, directly or through others,
//! back into a module that reaches it), and no file's non-test code grows past the size one
//! person can hold in their head.
//!
//! A module's dependencies are the `crate::NAME` paths its files mention (`use` or inline);
//! `lib.rs`/`main.rs` (the roots that wire modules together) and `error.rs` (the crate's one
//! error type, which every layer may name) are left out of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Non-test lines a source file may hold. Past this, split it by concept.
const MAX_FILE_LINES: usize = 600;

/// Cycles known and accepted, each with its reason. Anything else fails the test.
///
/// The drill's attacker kinds are components (`attacker/`, one file per kind): the driver and
/// the plan reach them through the `attacker_kinds!` registry, and each kind's `play`/`set_up`
/// is handed the driver, the plan's steps and its part of the scenario. Breaking it needs a
/// play-context trait owned by `attacker`; until then the cycle is confined to the runner.
const ACCEPTED_CYCLES: &[&str] =
    &["crates/drill/src: attacker <-> driver <-> plan <-> report <-> run <-> scenario"];

/// The source roots: each crate's `src/` and the binary's.
fn source_roots() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![repo.join("src")];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(repo.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("src"))
        .filter(|path| path.is_dir())
        .collect();
    crates.sort();
    roots.extend(crates);
    roots
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The file's code before its unit tests (`#[cfg(test)] mod tests` comes last by convention).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// The top-level module a file belongs to (`archive` for `archive.rs` and `archive/reader.rs`).
fn top_module(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// `crate::NAME` mentions in `code`, outside comments (a doc link is not a dependency).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !name.is_empty() && !preceded_by_ident {
            names.insert(name);
        }
        rest = after;
    }
    names
}

/// The cycles among one crate's top-level modules, each as the modules on it.
fn module_cycles(root: &Path) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = top_module(root, file);
        if matches!(module.as_str(), "lib" | "main" | "error") {
            continue;
        }
        edges.entry(module).or_default();
    }
    for file in &files {
        let module = top_module(root, file);
        let Some(_) = edges.get(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let used: Vec<String> = crate_paths(without_tests(&text))
            .into_iter()
            .filter(|name| *name != module && edges.contains_key(name))
            .collect();
        edges.get_mut(&module).unwrap().extend(used);
    }
    // A module is on a cycle when it reaches itself; report each cycle's members once.
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = vec![from];
        while let Some(module) = stack.pop() {
            for next in &edges[module] {
                if seen.insert(next.clone()) {
                    stack.push(next);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = edges
        .keys()
        .map(|module| (module, reaches(module)))
        .collect();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for (module, reached) in &reach {
        if !reached.contains(*module) {
            continue;
        }
        let members: Vec<String> = reached
            .iter()
            .filter(|other| reach[other].contains(*module))
            .cloned()
            .collect();
        if !cycles.contains(&members) {
            cycles.push(members);
        }
    }
    cycles
}

#[test]
fn modules_inside_each_crate_form_layers() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for root in source_roots() {
        let name = root.strip_prefix(repo).unwrap().display().to_string();
        for cycle in module_cycles(&root) {
            let cycle = format!("{name}: {}", cycle.join(" <-> "));
            if !ACCEPTED_CYCLES.contains(&cycle.as_str()) {
                found.push(cycle);
            }
        }
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_outgrows_one_concept() {
    let mut oversized = Vec::new();
    for root in source_roots() {
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = without_tests(&text).lines().count();
            if lines > MAX_FILE_LINES {
                oversized.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    oversized.sort();
    assert!(
        oversized.is_empty(),
        "files over {MAX_FILE_LINES} non-test lines (split them by concept):\n{}",
        oversized.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        crate_paths("use crate::log::Segment; fn f() { crate::archive::x(); my_crate::no() }"),
        BTreeSet::from(["archive".to_owned(), "log".to_owned()])
    );
    assert_eq!(
        without_tests("fn a() {}\n#[cfg(test)]\nmod tests {\n}\n"),
        "fn a() {}\n"
    );
}
