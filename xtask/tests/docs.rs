//! The repository's documentation stands on its own in a clone: every
//! relative link of the top-level pages and crate READMEs points at a file
//! of the repository, none reaches outside it (such as the design notes
//! `../shared/DESIGN.md` kept beside the development checkout), and the
//! README points at the architecture page.

use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

const PAGES: [&str; 7] = [
    "README.md",
    "ARCHITECTURE.md",
    "crates/partition/README.md",
    "crates/transport/README.md",
    "crates/stencil/README.md",
    "crates/quicklb/README.md",
    "BENCHMARKS.md",
];

/// The targets of `[text](target)` links, without `#anchors`, skipping URLs.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            links.push(target.to_string());
        }
    }
    links
}

#[test]
fn pages_link_only_inside_the_repository() {
    let root = root();
    for page in PAGES {
        let path = root.join(page);
        let Ok(text) = std::fs::read_to_string(&path) else {
            assert_ne!(page, "ARCHITECTURE.md", "ARCHITECTURE.md is missing");
            continue;
        };
        assert!(
            !text.contains("../shared/"),
            "{page} refers to ../shared/, which a clone does not have"
        );
        let dir = path.parent().expect("a page is in a directory");
        for link in relative_links(&text) {
            let target = dir.join(&link);
            // Resolve `..` lexically: the target must stay inside the repository.
            let mut resolved = PathBuf::new();
            for c in target.components() {
                match c {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    other => resolved.push(other),
                }
            }
            assert!(
                resolved.starts_with(&root),
                "{page}: link {link} leaves the repository"
            );
            assert!(resolved.exists(), "{page}: link {link} points at nothing");
        }
    }
}

#[test]
fn readme_points_at_the_architecture_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(relative_links(&readme)
        .iter()
        .any(|l| l == "ARCHITECTURE.md"));
    let page = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for crate_dir in [
        "crates/partition",
        "crates/transport",
        "crates/stencil",
        "crates/quicklb",
    ] {
        assert!(
            page.contains(crate_dir),
            "ARCHITECTURE.md does not map {crate_dir}"
        );
    }
}
