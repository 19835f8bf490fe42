//! The core's shape, checked: data flows one way through the stages, so a module may import
//! only from its own stage or from stages before it, and nothing in the core knows Python.
//! The order below is the data-flow map of `lib.rs` and docs/architecture.md.

use std::fs;
use std::path::{Path, PathBuf};

/// Top-level modules, in data-flow order.
const STAGES: &[&str] = &[
    "error",
    "float_text",
    "input",
    "spec",
    "domain",
    "pricing",
    "scenarios",
    "valuation",
    "risk",
    "output",
    "sensitivity",
    "methods",
    "engine",
    "accounts",
];

fn rank(stage: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == stage)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The stage a source file belongs to (`src/risk/tail.rs` -> `risk`).
fn stage_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// A file's code before its `#[cfg(test)]` module, with comments removed.
fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or(text);
    before_tests.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every `crate::<stage>` a file names in code (not comments) outside its `#[cfg(test)]` module.
fn imported_stages(text: &str) -> Vec<String> {
    let code = code_of(text);
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn stages_import_only_from_earlier_stages() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(stage) = stage_of(&src, file) else { continue };
        if stage == "lib" || stage == "test_support" {
            continue;
        }
        let own = rank(&stage).unwrap_or_else(|| panic!("{} is in no stage: add it to STAGES", file.display()));
        let text = fs::read_to_string(file).expect("readable source file");
        for imported in imported_stages(&text) {
            match rank(&imported) {
                Some(r) if r <= own => {}
                Some(_) => violations.push(format!("{} ({stage}) imports crate::{imported}", file.display())),
                None => violations.push(format!("{} imports crate::{imported}, which is in no stage", file.display())),
            }
        }
    }
    assert!(violations.is_empty(), "imports against the data flow:\n{}", violations.join("\n"));
    assert!(files.len() > 30, "found only {} source files", files.len());
}

/// The module path of a source file: `src/methods/grid/mod.rs` -> `methods::grid`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> =
        relative.components().map(|c| c.as_os_str().to_str().expect("utf-8 path").to_owned()).collect();
    let last = parts.pop().expect("a file name");
    if last != "mod.rs" && last != "lib.rs" {
        parts.push(last.trim_end_matches(".rs").to_owned());
    }
    parts
}

/// Modules a file refers to through `crate::`, `super::` and `self::` paths (code only), as the
/// longest known module prefix of each path.
fn referenced_modules(text: &str, me: &[String], known: &[Vec<String>], is_mod_file: bool) -> Vec<Vec<String>> {
    let code = code_of(text);
    let tokens: Vec<&str> = code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).collect();
    let mut out = Vec::new();
    for token in tokens {
        let parts: Vec<&str> = token.split("::").filter(|p| !p.is_empty()).collect();
        let (base, rest): (Vec<String>, &[&str]) = match parts.first() {
            Some(&"crate") => (Vec::new(), &parts[1..]),
            // In a mod.rs, `self` is the folder's module; `super` is always the parent module.
            Some(&"self") if is_mod_file => (me.to_vec(), &parts[1..]),
            Some(&"super") => (me[..me.len().saturating_sub(1)].to_vec(), &parts[1..]),
            _ => continue,
        };
        let mut path = base;
        let mut best = None;
        for part in rest {
            path.push((*part).to_owned());
            if known.contains(&path) {
                best = Some(path.clone());
            }
        }
        if let Some(found) = best {
            if found.as_slice() != me {
                out.push(found);
            }
        }
    }
    out
}

/// Sibling modules (neither inside the other) must not import each other, directly or
/// through others: `aggregate` <-> `attribution` or `engine` <-> `output` would fail here.
#[test]
fn no_import_cycles_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let modules: Vec<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let is_within = |a: &[String], b: &[String]| a.len() >= b.len() && a[..b.len()] == *b;
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); files.len()];
    for (i, file) in files.iter().enumerate() {
        let text = fs::read_to_string(file).expect("readable source file");
        let is_mod_file = file.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        for target in referenced_modules(&text, &modules[i], &modules, is_mod_file) {
            let j = modules.iter().position(|m| *m == target).expect("a known module");
            // A folder's mod.rs and the modules inside it form one unit.
            if !is_within(&modules[i], &modules[j]) && !is_within(&modules[j], &modules[i]) {
                edges[i].push(j);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(n: usize, edges: &[Vec<usize>], state: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
        state[n] = 1;
        stack.push(n);
        for &m in &edges[n] {
            if state[m] == 1 {
                let start = stack.iter().position(|&x| x == m).expect("on the stack");
                return Some(stack[start..].to_vec());
            }
            if state[m] == 0 {
                if let Some(cycle) = visit(m, edges, state, stack) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; files.len()];
    for n in 0..files.len() {
        if state[n] == 0 {
            if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<String> = cycle.iter().map(|&k| modules[k].join("::")).collect();
                panic!("import cycle: {}", names.join(" -> "));
            }
        }
    }
    assert!(edges.iter().map(Vec::len).sum::<usize>() > 30, "the checker found too few imports");
}

#[test]
fn the_core_knows_no_python() {
    let manifest = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect("manifest");
    assert!(!manifest.contains("pyo3"), "pmargin-core must not depend on pyo3");
}

#[test]
fn the_checker_sees_imports() {
    let text = "use crate::risk::tail::Measure;\n/// [`crate::methods`]\nfn f() { crate::spec::config_error(\"x\", \"y\"); }\n#[cfg(test)]\nuse crate::engine::Engine;";
    assert_eq!(imported_stages(text), vec!["risk".to_owned(), "spec".to_owned()]);
}
