//! No crate's module import graph has a cycle (core, host, testkit, firmware), and the test
//! server's HTTP layer knows neither the server nor the API (only its `Dispatch` trait and the
//! message types).
//!
//! An edge `a -> b` is any path in `a`'s file (outside its `#[cfg(test)]` tail and comments) that
//! names module `b`: `crate::b::…`, `super::…`, `self::…`, or a child module's name. `mod b;`
//! declarations are containment, not edges. `lib.rs` (the re-exports) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn module_files(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            module_files(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.to_vec();
            if name != "mod" && name != "lib" {
                p.push(name);
            }
            if p.is_empty() {
                continue; // lib.rs
            }
            out.insert(p.join("::"), fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code a module imports from: no comments, no test module.
fn code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::b::c` → the longest prefix that is a module.
fn resolve(segments: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn ident_at(b: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    (String::from_utf8_lossy(&b[start..i]).into_owned(), i)
}

/// Every module path named in `code` of module `me`.
fn references(me: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let me_path: Vec<String> = me.split("::").map(str::to_string).collect();
    let children: BTreeSet<String> = modules
        .iter()
        .filter_map(|m| m.strip_prefix(&format!("{me}::")))
        .map(|rest| rest.split("::").next().unwrap_or("").to_string())
        .collect();
    let b = code.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let after_colons = i >= 2 && &b[i - 2..i] == b"::";
        if !(word_start && (b[i].is_ascii_alphabetic() || b[i] == b'_')) || after_colons {
            i += 1;
            continue;
        }
        let (first, j) = ident_at(b, i);
        if b.get(j) == Some(&b')') {
            // `pub(super)`, `pub(crate)`: visibility, not a path.
            i = j;
            continue;
        }
        let base: Option<Vec<String>> = match first.as_str() {
            "crate" => Some(Vec::new()),
            "super" => Some(me_path[..me_path.len() - 1].to_vec()),
            "self" => Some(me_path.clone()),
            c if children.contains(c) && b.get(j..j + 2) == Some(b"::") => {
                let mut p = me_path.clone();
                p.push(c.to_string());
                Some(p)
            }
            _ => None,
        };
        let Some(path) = base else {
            i = j;
            continue;
        };
        i = use_tree(b, j, path, modules, &mut out);
    }
    out.remove(me);
    out
}

/// Follows the path that continues at `j` (`::seg::seg`, `::{tree, tree}` nested to any depth),
/// records every module it names, and returns where it ends.
fn use_tree(
    b: &[u8],
    mut j: usize,
    mut path: Vec<String>,
    modules: &BTreeSet<String>,
    out: &mut BTreeSet<String>,
) -> usize {
    while b.get(j..j + 2) == Some(b"::") {
        if b.get(j + 2) == Some(&b'{') {
            j += 3;
            loop {
                while b
                    .get(j)
                    .is_some_and(|c| c.is_ascii_whitespace() || *c == b',')
                {
                    j += 1;
                }
                match b.get(j) {
                    None => return j,
                    Some(b'}') => return j + 1,
                    _ => {}
                }
                let (seg, k) = ident_at(b, j);
                if seg.is_empty() {
                    // `*` or something else that names no module.
                    j += 1;
                    continue;
                }
                let mut p = path.clone();
                if seg != "self" {
                    p.push(seg);
                }
                j = use_tree(b, k, p, modules, out);
            }
        }
        let (seg, k) = ident_at(b, j + 2);
        if seg.is_empty() {
            break;
        }
        path.push(seg);
        j = k;
    }
    out.extend(resolve(&path, modules));
    j
}

/// The graph of the crate (or firmware) whose `src/` is at `root` (relative to the repository).
fn graph_of(root: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(root);
    let mut files = BTreeMap::new();
    module_files(&src, &[], &mut files);
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(m, text)| (m.clone(), references(m, &code(text), &modules)))
        .collect()
}

/// A cycle, if there is one (depth-first search with colours).
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, g, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Every module reachable from `from`.
fn reachable(g: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(n) = todo.pop() {
        for m in g.get(&n).into_iter().flatten() {
            if seen.insert(m.clone()) {
                todo.push(m.clone());
            }
        }
    }
    seen
}

fn graph() -> Graph {
    graph_of("crates/testkit/src")
}

#[test]
fn no_crate_has_an_import_cycle() {
    for (root, at_least) in [
        ("crates/core/src", 60),
        ("crates/picokubelet/src", 25),
        ("crates/testkit/src", 20),
        ("firmware/src", 6),
        ("firmware/body/src", 10),
        ("firmware/tapboard/src", 5),
    ] {
        let g = graph_of(root);
        assert!(g.len() >= at_least, "{root}: found only {:?}", g.keys());
        assert_eq!(find_cycle(&g), None, "{root}");
    }
}

#[test]
fn the_module_graph_has_no_cycles() {
    let g = graph();
    for (m, deps) in &g {
        println!(
            "{m} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(" ")
        );
    }
    assert!(g.len() > 20, "found the modules: {:?}", g.keys());
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn the_http_layer_knows_only_the_dispatch_trait() {
    let g = graph();
    let http = reachable(&g, "http");
    for forbidden in ["server", "api", "state", "store", "controller"] {
        assert!(
            !http.contains(forbidden),
            "http reaches {forbidden}: {http:?}"
        );
    }
    assert!(reachable(&g, "server").contains("http"));
}

#[test]
fn the_checker_sees_a_cycle_and_relative_paths() {
    let modules: BTreeSet<String> = ["a", "a::b", "a::c", "d"].map(String::from).into();
    let a = references(
        "a",
        "use b::X;\nfn f() { c::g(); crate::d::h(); }",
        &modules,
    );
    assert_eq!(a, ["a::b", "a::c", "d"].map(String::from).into());
    let b = references(
        "a::b",
        "pub(super) fn f() {}\nuse super::{c::Y, Z};",
        &modules,
    );
    assert_eq!(b, ["a", "a::c"].map(String::from).into());
    let mut g = Graph::new();
    g.insert("a".into(), a);
    g.insert("a::b".into(), b);
    assert!(find_cycle(&g).is_some());
    // Nested use lists are followed to the modules they name.
    let nested = references("d", "use crate::a::{b::{X, Y}, c};", &modules);
    assert_eq!(nested, ["a::b", "a::c"].map(String::from).into());
}
