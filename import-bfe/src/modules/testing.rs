//! Test support: a BFE configuration directory in a temporary directory, one module
//! converted from it, and the plugin's own init run on the result.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::{InputError, Report};

/// `conf/` (the configuration directory) and `bin/` beside it, as BFE lays them out.
pub struct Dir {
    pub dir: TempDir,
}

impl Dir {
    /// A directory holding `files` (paths relative to `conf/`).
    pub fn new(files: &[(&str, &str)]) -> Dir {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let made = Dir { dir };
        for (path, text) in files {
            made.write(path, text);
        }
        made
    }

    /// Writes `text` at `path` under `conf/`.
    pub fn write(&self, path: &str, text: &str) {
        let path = self.conf().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Converts `module` (enabled by its conf file or `Modules`): its plugin config,
    /// if any, and the report.
    pub fn convert(&self, module: &str) -> Result<(Option<toml::Table>, Report), InputError> {
        let bfe = crate::ini::Ini::parse("bfe.conf", &format!("[Server]\nModules = {module}\n"))?;
        let mut report = Report::default();
        let plugins = super::import(&self.conf(), Some(&bfe), &mut report)?;
        let config = plugins
            .into_iter()
            .find(|p| p.module == module)
            .map(|p| p.config);
        Ok((config, report))
    }
}

/// Whether some reported reason holds `text`.
pub fn reported(report: &Report, text: &str) -> bool {
    report.items().iter().any(|i| i.reason.contains(text))
}

/// A rule file `{"Version": ..., "Config": <config>}`.
pub fn rules(config: &str) -> String {
    format!(r#"{{"Version": "1", "Config": {config}}}"#)
}
