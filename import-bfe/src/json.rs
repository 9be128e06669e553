//! BFE's JSON files read as BFE reads them: Go's `encoding/json` matches field names
//! ignoring case (BFE's own samples mix `Cond` and `cond`), ignores unknown fields,
//! and takes `null` for absent. A [`Node`] is a value with its file and key path, so
//! that a malformed file is named precisely.

use std::path::Path;

use serde_json::Value;

use crate::InputError;

/// A parsed file.
pub struct Json {
    file: String,
    value: Value,
}

impl Json {
    /// Reads `rel` under `root`; `None` if the file does not exist.
    pub fn read(root: &Path, rel: &str) -> Result<Option<Json>, InputError> {
        let path = root.join(rel);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(InputError::new(rel, "", format!("cannot read: {e}"))),
        };
        let value = serde_json::from_str(&text)
            .map_err(|e| InputError::new(rel, "", format!("not JSON: {e}")))?;
        Ok(Some(Json {
            file: rel.to_owned(),
            value,
        }))
    }

    /// Reads `rel`, which must exist.
    pub fn read_required(root: &Path, rel: &str) -> Result<Json, InputError> {
        Json::read(root, rel)?.ok_or_else(|| InputError::new(rel, "", "missing"))
    }

    /// The file, relative to the configuration directory.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The document.
    pub fn root(&self) -> Node<'_> {
        Node {
            file: &self.file,
            key: String::new(),
            value: &self.value,
        }
    }
}

/// A value inside a [`Json`] file, with its key path.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    file: &'a str,
    key: String,
    value: &'a Value,
}

impl<'a> Node<'a> {
    /// The key path (`Config.shop[1].Cond`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The file.
    pub fn file(&self) -> &'a str {
        self.file
    }

    fn error(&self, message: impl Into<String>) -> InputError {
        InputError::new(self.file, self.key.clone(), message)
    }

    fn child(&self, key: String, value: &'a Value) -> Node<'a> {
        Node {
            file: self.file,
            key,
            value,
        }
    }

    /// Field `name` of an object, matched as Go does: exactly, else ignoring case;
    /// `None` when absent or `null`. A non-object has no fields.
    pub fn get(&self, name: &str) -> Option<Node<'a>> {
        let object = self.value.as_object()?;
        let (found, value) = object
            .get_key_value(name)
            .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))?;
        if value.is_null() {
            return None;
        }
        let key = if self.key.is_empty() {
            found.clone()
        } else {
            format!("{}.{found}", self.key)
        };
        Some(self.child(key, value))
    }

    /// Field `name`, which must be present.
    pub fn field(&self, name: &str) -> Result<Node<'a>, InputError> {
        self.get(name)
            .ok_or_else(|| self.error(format!("missing field `{name}`")))
    }

    /// The value as a string.
    pub fn str(&self) -> Result<&'a str, InputError> {
        self.value
            .as_str()
            .ok_or_else(|| self.error("expected a string"))
    }

    /// The value as a bool.
    pub fn bool(&self) -> Result<bool, InputError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.error("expected true or false"))
    }

    /// The value as an integer.
    pub fn int(&self) -> Result<i64, InputError> {
        self.value
            .as_i64()
            .ok_or_else(|| self.error("expected an integer"))
    }

    /// Field `name` as a string, if present.
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, InputError> {
        self.get(name).map(|node| node.str()).transpose()
    }

    /// Field `name` as a bool, if present.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, InputError> {
        self.get(name).map(|node| node.bool()).transpose()
    }

    /// Field `name` as an integer, if present.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, InputError> {
        self.get(name).map(|node| node.int()).transpose()
    }

    /// The members of an object, in the file's order.
    pub fn entries(&self) -> Result<Vec<(&'a str, Node<'a>)>, InputError> {
        let object = self
            .value
            .as_object()
            .ok_or_else(|| self.error("expected an object"))?;
        Ok(object
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(name, value)| {
                let key = if self.key.is_empty() {
                    name.clone()
                } else {
                    format!("{}.{name}", self.key)
                };
                (name.as_str(), self.child(key, value))
            })
            .collect())
    }

    /// The items of an array.
    pub fn items(&self) -> Result<Vec<Node<'a>>, InputError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.error("expected a list"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| self.child(format!("{}[{i}]", self.key), value))
            .collect())
    }

    /// The items of an array of strings.
    pub fn strings(&self) -> Result<Vec<&'a str>, InputError> {
        self.items()?.iter().map(Node::str).collect()
    }

    /// Field `name` as a list of strings; empty when absent.
    pub fn opt_strings(&self, name: &str) -> Result<Vec<&'a str>, InputError> {
        match self.get(name) {
            Some(node) => node.strings(),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        Json {
            file: "x.data".into(),
            value: serde_json::from_str(text).unwrap(),
        }
    }

    #[test]
    fn fields_match_ignoring_case_and_null_is_absent() {
        let doc = json(r#"{"cond": "a", "Cond2": null, "Config": {"shop": [{"Name": "n"}]}}"#);
        let root = doc.root();
        assert_eq!(root.field("Cond").unwrap().str().unwrap(), "a");
        assert!(root.get("Cond2").is_none());
        let rules = root.field("config").unwrap().entries().unwrap();
        let (product, list) = &rules[0];
        assert_eq!(*product, "shop");
        let rule = &list.items().unwrap()[0];
        assert_eq!(rule.key(), "Config.shop[0]");
        let err = rule.field("Cond").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.data: Config.shop[0]: missing field `Cond`"
        );
        let err = rule.field("name").unwrap().int().unwrap_err();
        assert_eq!(err.key, "Config.shop[0].Name");
    }
}
