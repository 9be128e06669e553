//! [`Context`]: the string key/value store plugins share for a session's or a
//! request's life.

/// Keys and values in insertion order, copied back to back into one string.
///
/// Internal: a handful of entries is the norm, so a walk over a vector beats a hash
/// map, and an empty context costs no allocation. One buffer for all the text (rather
/// than a `Box<str>` per key and per value) makes a request's first entries two
/// allocations in all, the buffer and the entry list, instead of two per entry, and
/// as many fewer frees when the request ends. A value replaced by a longer one is
/// appended and its old text left unused; the buffer is compacted once more than half
/// of it is unused, so that a connection whose plugins set the same key on every
/// request does not grow its session's context without bound.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Every key and value.
    text: String,
    /// Per entry: where its key and its value lie in `text`.
    entries: Vec<Entry>,
    /// Bytes of `text` that no entry uses any more.
    unused: usize,
}

/// Where one entry's key and value lie in the text.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
}

/// Room for the first entries (a request id, a few flags) in one allocation.
const FIRST_TEXT: usize = 128;
const FIRST_ENTRIES: usize = 4;

impl Context {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let entry = self.find(key)?;
        self.text
            .get(entry.value_start as usize..entry.value_end as usize)
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn set(&mut self, key: &str, value: &str) {
        if self.entries.is_empty() {
            self.text.reserve(FIRST_TEXT.max(key.len() + value.len()));
            self.entries.reserve(FIRST_ENTRIES);
        }
        let found = self
            .entries
            .iter()
            .position(|e| self.text.get(e.key_start as usize..e.key_end as usize) == Some(key));
        let Some(index) = found else {
            let key_start = self.push(key);
            let key_end = self.text.len() as u32;
            let value_start = self.push(value);
            self.entries.push(Entry {
                key_start,
                key_end,
                value_start,
                value_end: self.text.len() as u32,
            });
            return;
        };
        let entry = self.entries[index];
        let old_len = (entry.value_end - entry.value_start) as usize;
        let start = entry.value_start as usize;
        let at_end = entry.value_end as usize == self.text.len();
        if at_end {
            // The last value written: replace it in place, whatever its length.
            self.text.truncate(start);
            self.text.push_str(value);
        } else if value.len() <= old_len && self.text.is_char_boundary(start + value.len()) {
            self.text.replace_range(start..start + value.len(), value);
            self.unused += old_len - value.len();
        } else {
            let value_start = self.push(value);
            self.entries[index].value_start = value_start;
            self.unused += old_len;
        }
        self.entries[index].value_end = self.entries[index].value_start + value.len() as u32;
        if self.unused > self.text.len() / 2 {
            self.compact();
        }
    }

    /// All entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|e| {
            let key = self.text.get(e.key_start as usize..e.key_end as usize)?;
            let value = self
                .text
                .get(e.value_start as usize..e.value_end as usize)?;
            Some((key, value))
        })
    }

    fn find(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| self.text.get(e.key_start as usize..e.key_end as usize) == Some(key))
    }

    /// Appends `part` to the text; returns where it starts.
    fn push(&mut self, part: &str) -> u32 {
        let start = self.text.len() as u32;
        self.text.push_str(part);
        start
    }

    /// Copies the entries that are in use into a new text, in order.
    fn compact(&mut self) {
        let old = std::mem::take(self);
        self.text.reserve(old.text.len() - old.unused);
        self.entries.reserve(old.entries.len());
        for (key, value) in old.iter() {
            self.set(key, value);
        }
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

    #[test]
    fn values_of_any_length_replace_in_any_order() {
        let mut c = Context::default();
        c.set("a", "first");
        c.set("b", "second");
        c.set("a", "longer than before");
        c.set("b", "é");
        c.set("a", "x");
        c.set("c", "");
        c.set("b", "ü and more");
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all, [("a", "x"), ("b", "ü and more"), ("c", "")]);
    }

    #[test]
    fn setting_one_key_again_and_again_stays_small() {
        let mut c = Context::default();
        c.set("keep", "me");
        for n in 0..10_000 {
            c.set("count", &n.to_string());
            c.set(
                "other",
                if n % 2 == 0 {
                    "short"
                } else {
                    "a little longer"
                },
            );
        }
        assert_eq!(c.get("count"), Some("9999"));
        assert_eq!(c.get("other"), Some("a little longer"));
        assert_eq!(c.get("keep"), Some("me"));
        assert!(c.text.len() < 2 * FIRST_TEXT, "{}", c.text.len());
    }
}
