//! The files an import writes: `hookgate.toml`, `plugins/<plugin>.toml` per plugin,
//! and `import-report.txt`. Paths inside the config are absolute, so the proxy can be
//! started from any directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Import, Target};

/// Writes the import; returns the path of `hookgate.toml`.
pub fn write(import: &Import, target: &Target) -> io::Result<PathBuf> {
    fs::create_dir_all(target.out_dir.join("plugins"))?;
    let out_dir = target.out_dir.canonicalize()?;
    let plugin_dir = absolute(&target.plugin_dir)?;
    let mut config = import.config.clone();
    let mut plugins = Vec::new();
    for plugin in &import.plugins {
        for dir in &plugin.dirs {
            fs::create_dir_all(dir)?;
        }
        let file = out_dir
            .join("plugins")
            .join(format!("{}.toml", plugin.plugin));
        fs::write(&file, toml_text(&plugin.config)?)?;
        let library = format!("libhookgate_plugin_{}.so", plugin.plugin.replace('-', "_"));
        let mut entry = toml::Table::new();
        entry.insert("path".into(), path_value(&plugin_dir.join(library))?);
        entry.insert("config".into(), path_value(&file)?);
        plugins.push(toml::Value::Table(entry));
    }
    if !plugins.is_empty() {
        config.insert("plugins".into(), plugins.into());
    }
    let header = "# Written by `hookgate import-bfe`; see import-report.txt for what was not\n\
                  # converted exactly.\n\n";
    let path = out_dir.join("hookgate.toml");
    fs::write(&path, format!("{header}{}", toml_text(&config)?))?;
    fs::write(
        out_dir.join("import-report.txt"),
        format!("{}\n", import.report),
    )?;
    Ok(path)
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    match path.canonicalize() {
        Ok(path) => Ok(path),
        Err(_) if path.is_absolute() => Ok(path.to_owned()),
        Err(_) => Ok(std::env::current_dir()?.join(path)),
    }
}

fn path_value(path: &Path) -> io::Result<toml::Value> {
    let text = path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8", path.display()),
        )
    })?;
    Ok(text.into())
}

fn toml_text(table: &toml::Table) -> io::Result<String> {
    toml::to_string(table).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
