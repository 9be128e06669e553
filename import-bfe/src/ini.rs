//! BFE's `.conf` files: gcfg INI (`[Section]`, `Key = value`, `#` and `;` comments,
//! repeated keys), with section and key names matched ignoring case.

use std::path::Path;

use crate::InputError;

/// A parsed `.conf` file.
#[derive(Debug, Default)]
pub struct Ini {
    file: String,
    /// (section, key, value), in file order.
    entries: Vec<(String, String, String)>,
}

impl Ini {
    /// Reads `rel` under `root`; `None` if the file does not exist.
    pub fn read(root: &Path, rel: &str) -> Result<Option<Ini>, InputError> {
        match std::fs::read_to_string(root.join(rel)) {
            Ok(text) => Ini::parse(rel, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InputError::new(rel, "", format!("cannot read: {e}"))),
        }
    }

    /// Parses the text of `file`.
    pub fn parse(file: &str, text: &str) -> Result<Ini, InputError> {
        let mut ini = Ini {
            file: file.to_owned(),
            entries: Vec::new(),
        };
        let mut section = String::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let at = format!("line {}", n + 1);
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| InputError::new(file, at.clone(), "expected `[section]`"))?;
                section = name.trim().to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(InputError::new(file, at, "expected `key = value`"));
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            ini.entries
                .push((section.clone(), key.trim().to_owned(), value.to_owned()));
        }
        Ok(ini)
    }

    /// The file, relative to the configuration directory.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every value of `key` in `section`, in order.
    pub fn all<'s, 'k>(
        &'s self,
        section: &'k str,
        key: &'k str,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'k> {
        self.entries
            .iter()
            .filter(move |(s, k, _)| s.eq_ignore_ascii_case(section) && k.eq_ignore_ascii_case(key))
            .map(|(_, _, v)| v.as_str())
    }

    /// The last value of `key` in `section` (gcfg keeps the last of a single key).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.all(section, key).last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_repeats() {
        let text = "# c\n[Server]\nHttpPort = 8080\nModules = mod_block\nmodules = mod_header\n\
                    [Log]\nPath = \"/a b\"\n";
        let ini = Ini::parse("bfe.conf", text).unwrap();
        assert_eq!(ini.get("server", "httpport"), Some("8080"));
        assert_eq!(
            ini.all("Server", "Modules").collect::<Vec<_>>(),
            ["mod_block", "mod_header"]
        );
        assert_eq!(ini.get("log", "path"), Some("/a b"));
        assert!(Ini::parse("x", "[a\n").is_err());
        assert!(Ini::parse("x", "novalue\n").is_err());
    }
}
