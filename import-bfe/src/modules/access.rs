//! `mod_access` → the `access-log` plugin: one file, in the combined format.
//!
//! The file is `[Log] LogFile`, else `<LogDir>/<LogPrefix>.log`; a relative path is
//! taken from BFE's working directory (`bin/` beside the configuration directory) and
//! written absolute. BFE's templates, its session log template and its rotation have
//! no equivalent: the plugin writes fixed fields and never rotates.

use std::path::{Component, Path, PathBuf};

use super::Module;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let file = module.conf_file().to_owned();
    let written = match (
        module.conf("Log", "LogFile"),
        module.conf("Log", "LogDir"),
        module.conf("Log", "LogPrefix"),
    ) {
        (Some(log_file), _, _) if !log_file.is_empty() => log_file.to_owned(),
        (_, Some(dir), Some(prefix)) if !dir.is_empty() && !prefix.is_empty() => {
            format!("{dir}/{prefix}.log")
        }
        _ => {
            return Err(InputError::new(
                &file,
                "Log",
                "needs LogFile, or LogDir and LogPrefix",
            ))
        }
    };
    let path = from_bin(module.root, &written)?;
    let mut config = toml::Table::new();
    config.insert("path".into(), path.to_string_lossy().into_owned().into());
    config.insert("format".into(), "combined".into());
    if !Path::new(&written).is_absolute() {
        module.report.note(
            &file,
            "Log",
            format!(
                "{written:?} is relative to BFE's working directory (bin/): written as {}",
                path.display()
            ),
        );
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.exists()) {
        module.report.note(
            &file,
            "Log",
            format!(
                "{} does not exist: it is created when the import is written, as BFE \
                 creates it at start-up",
                dir.display()
            ),
        );
        module.dirs.push(dir.to_owned());
    }
    for key in ["RotateWhen", "BackupCount"] {
        if let Some(value) = module.conf("Log", key) {
            let reason = format!(
                "log rotation ({key} = {value}) is not done by the access-log plugin: \
                 rotate the file outside hookgate"
            );
            module.report.skipped(&file, format!("Log.{key}"), reason);
        }
    }
    let request = module.conf("Template", "RequestTemplate").unwrap_or("");
    let reason = format!(
        "the request template {request:?} becomes the plugin's fixed \"combined\" format \
         (combined log fields followed by key=value fields); BFE's template variables \
         cannot be chosen"
    );
    module
        .report
        .approximated(&file, "Template.RequestTemplate", reason);
    if let Some(session) = module.conf("Template", "SessionTemplate") {
        let reason = format!(
            "the session template {session:?} is not used: the plugin writes one line per \
             connection in its own fixed format, in the same file as the requests"
        );
        module
            .report
            .approximated(&file, "Template.SessionTemplate", reason);
    }
    Ok(Some(config))
}

/// `written` as BFE opens it: from `bin/` beside the configuration directory, unless
/// absolute; made absolute, with `.` and `..` resolved by name.
fn from_bin(root: &Path, written: &str) -> Result<PathBuf, InputError> {
    let joined = root.join("..").join("bin").join(written);
    let absolute = std::path::absolute(&joined)
        .map_err(|e| InputError::new(written, "", format!("cannot make the path absolute: {e}")))?;
    let mut clean = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, Dir};
    use crate::Kind;

    const CONF: &str = "[Log]\nLogPrefix = access\nLogDir = ../log\nRotateWhen = NEXTHOUR\n\
                        BackupCount = 2\n[Template]\nRequestTemplate = COMBINED\n\
                        SessionTemplate = \"SESSION_LOG $time\"\n";

    #[test]
    fn dir_and_prefix_from_bin() {
        let dir = Dir::new(&[("mod_access/mod_access.conf", CONF)]);
        std::fs::create_dir(dir.dir.path().join("log")).unwrap();
        let (config, report) = dir.convert("mod_access").unwrap();
        let config = config.unwrap();
        let expected = std::path::absolute(dir.dir.path().join("log/access.log")).unwrap();
        assert_eq!(config["path"].as_str(), expected.to_str());
        assert_eq!(config["format"].as_str(), Some("combined"));
        assert_eq!(report.count(Kind::Skipped), 2);
        assert_eq!(report.count(Kind::Approximated), 2);
        assert!(reported(&report, "RotateWhen = NEXTHOUR"));
    }

    #[test]
    fn log_file_absolute_and_missing_log_section() {
        let dir = Dir::new(&[(
            "mod_access/mod_access.conf",
            "[Log]\nLogFile = /dev/stdout\n",
        )]);
        let (config, report) = dir.convert("mod_access").unwrap();
        assert_eq!(config.unwrap()["path"].as_str(), Some("/dev/stdout"));
        assert_eq!(report.count(Kind::Skipped), 0);
        let dir = Dir::new(&[("mod_access/mod_access.conf", "[Log]\nLogDir = x\n")]);
        assert!(dir.convert("mod_access").is_err());
    }
}
