//! One enabled event, formatted in Rust into owned strings and numbers so it
//! can wait in a queue and cross to JavaScript later.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::Event;

use super::filter::level_name;
use super::namespace::namespace;

/// Longest message or field value kept, in bytes; longer ones are cut, so a
/// queue of records has a bounded size even when an event logs a whole frame.
const MAX_TEXT: usize = 2048;

/// Integers beyond this lose precision as a JS number; they travel as text.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A field value as JavaScript receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A formatted event.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// The `debug` namespace (see [`super::namespace`]).
    pub namespace: String,
    /// The tracing target, usually the Rust module path.
    pub target: String,
    pub message: String,
    /// In the order the event names them.
    pub fields: Vec<(&'static str, Value)>,
}

impl Record {
    pub fn from_event(event: &Event<'_>) -> Self {
        let meta = event.metadata();
        let mut visitor = Fields { message: String::new(), fields: Vec::new() };
        event.record(&mut visitor);
        Record {
            level: level_name(meta.level()),
            namespace: namespace(meta.target()),
            target: meta.target().to_owned(),
            message: visitor.message,
            fields: visitor.fields,
        }
    }
}

struct Fields {
    message: String,
    fields: Vec<(&'static str, Value)>,
}

impl Fields {
    fn text(&mut self, field: &Field, text: String) {
        let text = truncate(text);
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name(), Value::Text(text)));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), Value::Bool(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), Value::Number(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if value <= MAX_SAFE_INTEGER {
            self.fields.push((field.name(), Value::Number(value as f64)));
        } else {
            self.text(field, value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if value.unsigned_abs() <= MAX_SAFE_INTEGER {
            self.fields.push((field.name(), Value::Number(value as f64)));
        } else {
            self.text(field, value.to_string());
        }
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let cut = truncate("é".repeat(MAX_TEXT));
        assert!(cut.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".to_owned()), "short");
    }
}
