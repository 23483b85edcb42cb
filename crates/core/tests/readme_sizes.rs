//! The README's body-size table is what the builders write: each row's size for the sample
//! board (`k8s::render::sample`, as the `render` example prints it) and its stated maximum.
use picokubelet_core::k8s::render::{fresh_conditions, render, sample, BodyKind};

const README: &str = include_str!("../../../README.md");

/// The rows of the table under `| body | bytes (20-char name) | …`: (label, bytes, maximum).
fn table_rows() -> Vec<(String, usize, usize)> {
    let mut lines = README
        .lines()
        .skip_while(|l| !l.starts_with("| body | bytes"));
    assert!(lines.next().is_some(), "the README has no body-size table");
    lines
        .skip(1) // |---|---|---|
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let number = |s: &str| s.parse::<usize>().unwrap_or_else(|_| panic!("{l:?}"));
            assert_eq!(cells.len(), 3, "{l:?}");
            (cells[0].to_owned(), number(cells[1]), number(cells[2]))
        })
        .collect()
}

#[test]
fn the_readme_table_states_the_rendered_sizes_and_maxima() {
    let rows = table_rows();
    assert_eq!(rows.len(), BodyKind::ALL.len(), "one row per body kind");
    let conds = fresh_conditions(&sample::SIGNALS, sample::NOW);
    let input = sample::input(&conds).unwrap();
    for ((label, bytes, max), kind) in rows.iter().zip(BodyKind::ALL) {
        let mut buf = vec![0u8; kind.max_len()];
        let n = render(kind, &input, &mut buf).unwrap();
        assert_eq!(*bytes, n, "README row {label:?} ({}): size", kind.name());
        assert_eq!(*max, kind.max_len(), "README row {label:?}: maximum");
    }
}

#[test]
fn the_readme_names_every_kind_in_the_render_command() {
    let names: Vec<&str> = BodyKind::ALL.into_iter().map(BodyKind::name).collect();
    let usage = format!("--example render -- {}", names.join("|"));
    assert!(README.contains(&usage), "README lacks {usage:?}");
}
