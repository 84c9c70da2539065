//! Typed reads from a `serde_json::Value` tree that know each value's full key
//! path, so every error and warning can name it (`logging.syslog.logToSysloyHost`).

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{suggest, ConfigError};

/// The most seconds any duration setting takes (one year): keeps
/// `Duration` arithmetic far from overflow.
pub(crate) const MAX_SECS: f64 = 31_536_000.0;

/// What a port number must be, as messages say it.
const PORT: &str = "an integer 1-65535";

/// A JSON object of the config, with the key path that leads to it ("" for
/// the top level). Absent keys and `null` values both read as "not set".
pub(crate) struct Obj<'v> {
    path: String,
    /// `None` for a section left out of the file: every key reads as not set.
    map: Option<&'v Map<String, Value>>,
}

impl<'v> Obj<'v> {
    /// The top-level object; anything else is an error.
    pub fn root(value: &'v Value) -> Result<Obj<'v>, ConfigError> {
        match value {
            Value::Object(map) => Ok(Obj {
                path: String::new(),
                map: Some(map),
            }),
            other => Err(ConfigError::key(
                "(top level)",
                format!("expected a JSON object {{...}}, got {}", show(other)),
            )),
        }
    }

    /// Wraps `value` found at `path`, which must be an object.
    pub fn at(path: String, value: &'v Value) -> Result<Obj<'v>, ConfigError> {
        match value {
            Value::Object(map) => Ok(Obj {
                path,
                map: Some(map),
            }),
            other => Err(ConfigError::key(
                path,
                format!("expected an object {{...}}, got {}", show(other)),
            )),
        }
    }

    /// The full path of `key` inside this object.
    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Adds a warning naming each key of this object that is not in
    /// `known`, with the known key it is likely a typo of.
    pub fn warn_unknown(&self, known: &[&str], warnings: &mut Vec<String>) {
        for key in self.map.iter().flat_map(|m| m.keys()) {
            if !known.contains(&key.as_str()) {
                let path = self.path_of(&printable(key));
                warnings.push(match suggest::nearest(key, known) {
                    Some(near) => format!("{path}: unknown key, ignored; did you mean {near}?"),
                    None => format!("{path}: unknown key, ignored"),
                });
            }
        }
    }

    /// The value of `key`, or `None` when it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// A nested object, or `None` when not set.
    pub fn object(&self, key: &str) -> Result<Option<Obj<'v>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => Obj::at(self.path_of(key), value).map(Some),
        }
    }

    /// A nested object; when not set, an empty one whose keys all read as not set.
    pub fn section(&self, key: &str) -> Result<Obj<'v>, ConfigError> {
        Ok(self.object(key)?.unwrap_or(Obj {
            path: self.path_of(key),
            map: None,
        }))
    }

    /// An array's items with their paths (`key[i]`); not set reads as empty.
    pub fn array(&self, key: &str) -> Result<Vec<(String, &'v Value)>, ConfigError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.path_of(key)), v))
                .collect()),
            Some(other) => Err(self.wrong(key, "an array [...]", other)),
        }
    }

    /// A boolean, or `default` when not set.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A string, or `None` when not set.
    pub fn string(&self, key: &str) -> Result<Option<&'v str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A non-empty string of at most `max_len` bytes without control
    /// characters; required when `default` is `None`.
    pub fn text(
        &self,
        key: &str,
        max_len: usize,
        default: Option<&str>,
    ) -> Result<String, ConfigError> {
        let expected = format!("a non-empty string of at most {max_len} bytes");
        match self.get(key) {
            None => match default {
                Some(d) => Ok(d.to_string()),
                None => Err(ConfigError::key(
                    self.path_of(key),
                    format!("missing, expected {expected}"),
                )),
            },
            Some(Value::String(s))
                if !s.is_empty() && s.len() <= max_len && !s.chars().any(char::is_control) =>
            {
                Ok(s.clone())
            }
            Some(other) => Err(self.wrong(key, &expected, other)),
        }
    }

    /// An integer within `range` (`what` describes it, e.g. "an integer
    /// 1-65535"); required when `default` is `None`.
    pub fn int(
        &self,
        key: &str,
        range: RangeInclusive<u64>,
        default: Option<u64>,
        what: &str,
    ) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => default.ok_or_else(|| {
                ConfigError::key(self.path_of(key), format!("missing, expected {what}"))
            }),
            Some(value) => match value.as_u64() {
                Some(n) if range.contains(&n) => Ok(n),
                _ => Err(self.wrong(key, what, value)),
            },
        }
    }

    /// A port number; required when `default` is `None`.
    pub fn port(&self, key: &str, default: Option<u16>) -> Result<u16, ConfigError> {
        let n = self.int(key, 1..=65_535, default.map(u64::from), PORT)?;
        u16::try_from(n)
            .map_err(|_| ConfigError::key(self.path_of(key), format!("expected {PORT}")))
    }

    /// A number of seconds (integer or fraction, 0 to [`MAX_SECS`]; above 0
    /// when `positive`), or `default` when not set.
    pub fn secs(
        &self,
        key: &str,
        default: Duration,
        positive: bool,
    ) -> Result<Duration, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        let lower = if positive { "above 0" } else { "0 or more" };
        let what = format!("a number of seconds, {lower} and at most {MAX_SECS}");
        match value.as_f64() {
            Some(s) if (0.0..=MAX_SECS).contains(&s) && (!positive || s > 0.0) => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => Err(self.wrong(key, &what, value)),
        }
    }

    /// The error for `key` holding `got` where `expected` was wanted.
    pub fn wrong(&self, key: &str, expected: &str, got: &Value) -> ConfigError {
        ConfigError::key(
            self.path_of(key),
            format!("expected {expected}, got {}", show(got)),
        )
    }
}

/// A short rendering of a JSON value for messages: scalars as JSON text
/// (cut to 40 characters), containers by kind.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Null => "null".to_string(),
        other => {
            let text = other.to_string();
            if text.chars().count() > 40 {
                let cut: String = text.chars().take(37).collect();
                format!("{cut}...")
            } else {
                text
            }
        }
    }
}

/// A key as it may be printed: control characters escaped, cut to 80 chars,
/// so a hostile file cannot garble the terminal through a warning.
fn printable(key: &str) -> String {
    let mut out: String = key.chars().take(80).flat_map(char::escape_debug).collect();
    if key.chars().count() > 80 {
        out.push_str("...");
    }
    out
}
