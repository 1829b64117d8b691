//! The shape of the code, checked: lambdad's crates depend on each other
//! only in the allowed direction (read from `cargo metadata`), and no two
//! modules of a crate import each other, directly or around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each internal crate and the internal crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("lambdad-model", &[]),
    ("lambdad-sandbox", &[]),
    ("lambdad-store", &["lambdad-model"]),
    ("lambdad-engine", &["lambdad-model", "lambdad-sandbox"]),
    ("lambdad-objects", &["lambdad-model", "lambdad-store"]),
    (
        "lambdad-service",
        &[
            "lambdad-model",
            "lambdad-store",
            "lambdad-engine",
            "lambdad-objects",
        ],
    ),
    (
        "lambdad-triggers",
        &[
            "lambdad-model",
            "lambdad-store",
            "lambdad-engine",
            "lambdad-service",
        ],
    ),
    (
        "lambdad-api",
        &[
            "lambdad-model",
            "lambdad-store",
            "lambdad-engine",
            "lambdad-service",
            "lambdad-objects",
        ],
    ),
    (
        "lambdad",
        &[
            "lambdad-model",
            "lambdad-store",
            "lambdad-sandbox",
            "lambdad-engine",
            "lambdad-service",
            "lambdad-triggers",
            "lambdad-api",
            "lambdad-objects",
        ],
    ),
    ("lambdad-fixture-functions", &[]),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/lambdad is two levels below the workspace")
        .to_owned()
}

#[test]
fn crates_depend_only_in_the_allowed_direction() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    for name in &names {
        assert!(
            allowed.contains_key(name),
            "{name} is a new crate: add its allowed dependencies to ALLOWED (and ARCHITECTURE.md)"
        );
    }
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            // Dev-dependencies (tests driving the binary) may use anything.
            if !names.contains(dep) || d["kind"].as_str() == Some("dev") {
                continue;
            }
            assert!(
                allowed[name].contains(&dep),
                "{name} depends on {dep}, which is not among its allowed dependencies {:?}",
                allowed[name]
            );
        }
    }
}

/// The top-level modules of a crate's `src` and the sibling modules each names.
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("readable src").flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let module = |p: &Path| {
        let rel = p.strip_prefix(src).expect("below src");
        let first = rel.components().next().expect("a component");
        let name = first.as_os_str().to_string_lossy();
        (
            name.trim_end_matches(".rs").to_owned(),
            rel.components().count() == 1,
        )
    };
    let modules: BTreeSet<String> = all
        .iter()
        .map(|p| module(p).0)
        .filter(|m| !matches!(m.as_str(), "lib" | "main" | "bin"))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &all {
        let (m, top_level) = module(p);
        if !modules.contains(&m) {
            continue;
        }
        let text = std::fs::read_to_string(p).expect("readable source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut named = BTreeSet::new();
        for prefix in ["crate::", "super::"] {
            // `super::` names a sibling only from a top-level module file.
            if prefix == "super::" && !top_level {
                continue;
            }
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if ident != m && modules.contains(&ident) {
                    named.insert(ident);
                }
            }
        }
        edges.entry(m).or_default().extend(named);
    }
    edges
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let crates = workspace_root().join("crates");
    let mut cycles = Vec::new();
    for e in std::fs::read_dir(&crates).expect("crates/").flatten() {
        let src = e.path().join("src");
        if !src.is_dir() {
            continue;
        }
        if let Some(c) = find_cycle(&module_edges(&src)) {
            cycles.push(format!(
                "{}: {}",
                e.file_name().to_string_lossy(),
                c.join(" -> ")
            ));
        }
    }
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
}

#[test]
fn the_cycle_finder_sees_a_circle_through_three_modules() {
    let edge = |a: &str, b: &str| (a.to_owned(), BTreeSet::from([b.to_owned()]));
    let edges = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(find_cycle(&edges).map(|c| c.len()), Some(4));
    let edges = BTreeMap::from([edge("a", "b"), edge("b", "c")]);
    assert_eq!(find_cycle(&edges), None);
}
