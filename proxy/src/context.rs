//! [`Context`]: the string key/value store plugins share for a session's or a
//! request's life.

/// Keys and values in insertion order. A handful of entries is the norm, so a vector
/// beats a hash map here, and an empty context costs no allocation.
#[derive(Clone, Debug, Default)]
pub struct Context {
    entries: Vec<(Box<str>, Box<str>)>,
}

impl Context {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| &**k == key) {
            Some((_, v)) => *v = value.into(),
            None => self.entries.push((key.into(), value.into())),
        }
    }

    /// All entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (&**k, &**v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces() {
        let mut c = Context::default();
        c.set("a", "1");
        c.set("b", "2");
        c.set("a", "3");
        assert_eq!(c.get("a"), Some("3"));
        assert_eq!(c.iter().count(), 2);
        assert_eq!(c.get("z"), None);
    }
}
