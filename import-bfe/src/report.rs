//! [`Report`]: every BFE item the import could not convert exactly, and why.

use std::fmt::{self, Write as _};

/// How far an item got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Left out: a BFE feature hookgate lacks, or a rule that cannot be expressed.
    Skipped,
    /// Converted, but hookgate behaves differently in a stated way.
    Approximated,
    /// Converted exactly, or left out without any change in behaviour (e.g. data BFE
    /// never reads); worth knowing.
    Note,
}

/// One reported item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What became of it.
    pub kind: Kind,
    /// The BFE file, relative to the configuration directory.
    pub file: String,
    /// Which entry of the file (`Config.shop[1]`, `cluster_a`).
    pub item: String,
    /// Why.
    pub reason: String,
}

/// The items of one import, in the order they were met.
#[derive(Debug, Default)]
pub struct Report {
    items: Vec<Item>,
}

impl Report {
    /// Records an item left out.
    pub fn skipped(&mut self, file: &str, item: impl Into<String>, reason: impl Into<String>) {
        self.push(Kind::Skipped, file, item.into(), reason.into());
    }

    /// Records an item converted with a difference.
    pub fn approximated(&mut self, file: &str, item: impl Into<String>, reason: impl Into<String>) {
        self.push(Kind::Approximated, file, item.into(), reason.into());
    }

    /// Records a remark that changes no behaviour.
    pub fn note(&mut self, file: &str, item: impl Into<String>, reason: impl Into<String>) {
        self.push(Kind::Note, file, item.into(), reason.into());
    }

    fn push(&mut self, kind: Kind, file: &str, item: String, reason: String) {
        let file = file.to_owned();
        self.items.push(Item {
            kind,
            file,
            item,
            reason,
        });
    }

    /// The items, in the order they were met.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Whether everything converted exactly (notes aside).
    pub fn is_exact(&self) -> bool {
        self.items.iter().all(|item| item.kind == Kind::Note)
    }

    /// How many items are of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.items.iter().filter(|item| item.kind == kind).count()
    }
}

impl fmt::Display for Report {
    /// Skipped items first, then approximations, then notes; a summary line last.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (kind, title) in [
            (Kind::Skipped, "not converted"),
            (Kind::Approximated, "converted with a difference"),
            (Kind::Note, "notes"),
        ] {
            let items: Vec<&Item> = self.items.iter().filter(|i| i.kind == kind).collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}:");
            for item in items {
                let _ = writeln!(out, "  {}: {}: {}", item.file, item.item, item.reason);
            }
        }
        let _ = write!(
            out,
            "{} not converted, {} converted with a difference, {} notes",
            self.count(Kind::Skipped),
            self.count(Kind::Approximated),
            self.count(Kind::Note)
        );
        f.write_str(&out)
    }
}
