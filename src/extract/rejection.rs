//! A deserializer's failure, told in the vendor's words: shared by the three extractors.
//!
//! serde reports what went wrong through `de::Error`'s constructors (`missing_field`,
//! `unknown_field`, `invalid_type`, ...), whose messages serde fixes ("missing field `name`");
//! serde_json and serde_urlencoded keep them. [`Problem::read`] reads those messages back, and
//! [`reject`] turns the problem, the path into the input and the part of the request into an
//! [`ApiError`] with one [`FieldViolation`].

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::error::{echo, ApiError, ErrorKind, FieldViolation};

/// The part of the request a field is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Body,
    Query,
    Path,
}

impl Source {
    /// The first segment of a violation's location.
    fn segment(self) -> &'static str {
        match self {
            Source::Body => "body",
            Source::Query => "query",
            Source::Path => "path",
        }
    }

    fn parameters(self) -> &'static str {
        match self {
            Source::Body => "Body",
            Source::Query => "Query",
            Source::Path => "Path",
        }
    }
}

/// One step into the input: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Where in the input a problem is, from the top-level value down.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Step>);

impl FieldPath {
    pub(crate) fn key(key: impl Into<String>) -> Self {
        Self(vec![Step::Key(key.into())])
    }

    pub(crate) fn steps(&self) -> &[Step] {
        &self.0
    }

    fn child(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Self(steps)
    }

    /// The object key this path ends with, if it ends with one.
    fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Step::Key(key)) => Some(key),
            _ => None,
        }
    }

    /// The violation location: the part of the request, then one segment per step.
    fn location(&self, source: Source) -> Vec<Cow<'static, str>> {
        let mut location = Vec::with_capacity(self.0.len() + 1);
        location.push(Cow::Borrowed(source.segment()));
        location.extend(self.0.iter().map(|step| match step {
            Step::Key(key) => Cow::Owned(key.clone()),
            Step::Index(index) => Cow::Owned(index.to_string()),
        }));
        location
    }
}

impl From<&serde_path_to_error::Path> for FieldPath {
    fn from(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        Self(
            path.iter()
                .map(|segment| match segment {
                    Segment::Seq { index } => Step::Index(*index),
                    Segment::Map { key } => Step::Key(key.clone()),
                    Segment::Enum { variant } => Step::Key(variant.clone()),
                    Segment::Unknown => Step::Key("?".to_owned()),
                })
                .collect(),
        )
    }
}

/// `owner.email`, `tags[1]`: keys joined by dots, indices in brackets.
impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(key) if i == 0 => f.write_str(key)?,
                Step::Key(key) => write!(f, ".{key}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// What serde said went wrong, read back from its message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem<'a> {
    /// `missing field `name``: the field under the path is absent.
    Missing { field: &'a str },
    /// `invalid type: null, expected ...`: a value is required where `null` was sent.
    Null { expected: &'a str },
    /// `unknown field `x`, expected ...`: the path ends with the unknown key; `expected` lists
    /// the known fields.
    Unknown { expected: Vec<&'a str> },
    /// `duplicate field `name``.
    Duplicate { field: &'a str },
    /// Wrong type, value, length or variant: what was expected (serde's words, e.g. `a string`).
    Expected {
        reason: &'static str,
        expected: &'a str,
    },
    /// Any other message (a type's own `de::Error::custom`).
    Other(&'a str),
}

impl<'a> Problem<'a> {
    /// Reads the messages of serde's `de::Error` constructors (their wording is serde's own and
    /// has not changed across serde 1.x). Input echoed in them (the unexpected value, an unknown
    /// key or variant) is never used: only the field names and expectations the type declares.
    pub(crate) fn read(message: &'a str) -> Self {
        if let Some(rest) = message.strip_prefix("missing field `") {
            if let Some(field) = rest.strip_suffix('`') {
                return Problem::Missing { field };
            }
        }
        if let Some(rest) = message.strip_prefix("duplicate field `") {
            if let Some(field) = rest.strip_suffix('`') {
                return Problem::Duplicate { field };
            }
        }
        if message.starts_with("unknown field `") {
            // The received key comes first and may contain anything; the expected list is the
            // type's own and comes last.
            let expected = message
                .rfind("`, expected ")
                .map(|i| backticked(&message[i + "`, expected ".len()..]))
                .unwrap_or_default();
            return Problem::Unknown { expected };
        }
        if let Some(expected) = message.strip_prefix("invalid type: null, expected ") {
            return Problem::Null { expected };
        }
        for (prefix, reason) in [
            ("invalid type: ", "invalid_type"),
            ("invalid value: ", "invalid_value"),
            ("invalid length ", "invalid_length"),
            ("unknown variant `", "unknown_variant"),
        ] {
            if message.starts_with(prefix) {
                if let Some(i) = message.rfind(", expected ") {
                    let expected = &message[i + ", expected ".len()..];
                    return Problem::Expected { reason, expected };
                }
                if reason == "unknown_variant" {
                    return Problem::Expected {
                        reason,
                        expected: "no value (the type has no variants)",
                    };
                }
            }
        }
        Problem::Other(message)
    }
}

/// The names in `` `a` ``, `` `a` or `b` `` and `` one of `a`, `b`, `c` ``.
fn backticked(list: &str) -> Vec<&str> {
    list.split('`').skip(1).step_by(2).collect()
}

/// Two names that differ only in case.
fn same_but_case(a: &str, b: &str) -> bool {
    a != b
        && a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

/// The error for `problem` at `path` in `source`.
///
/// `keys` lists the keys of the object at a path (the object a field is missing from), for the
/// case-sensitivity hint; it is called only for a missing field.
pub(crate) fn reject<K>(source: Source, path: &FieldPath, problem: Problem<'_>, keys: K) -> ApiError
where
    K: FnOnce(&FieldPath) -> Vec<String>,
{
    match problem {
        Problem::Missing { field } => {
            let received = keys(path).into_iter().find(|key| same_but_case(key, field));
            let hint = received.as_deref().map(|received| (received, field));
            missing(source, &path.child(field), hint)
        }
        // `null` for a field is no value; in an array it is a value of the wrong type.
        Problem::Null { .. } if path.last_key().is_some() => missing(source, path, None),
        Problem::Null { expected } => invalid(
            source,
            path,
            "invalid_type",
            &format!("expected {expected}"),
        ),
        Problem::Unknown { expected } => {
            let received = path.last_key().unwrap_or_default();
            let hint = expected.iter().find(|known| same_but_case(received, known));
            let mut message = format!("Invalid input {}: unknown field", echo(&path.to_string()));
            match hint {
                Some(known) => {
                    let _ = write!(message, ". ");
                    case_hint(&mut message, source, received, known);
                }
                None if expected.is_empty() => message.push('.'),
                None => {
                    let _ = write!(message, ", expected {}.", list(&expected));
                }
            }
            // A query parameter the endpoint does not take is QRadar's 420.
            let kind = match source {
                Source::Query => ErrorKind::UnknownParameter,
                Source::Body | Source::Path => ErrorKind::InvalidInput,
            };
            error(
                kind,
                message,
                source,
                path,
                "unknown field",
                "unknown_field",
            )
        }
        Problem::Duplicate { field } => {
            let path = path.child(field);
            let message = format!(
                "Invalid input {}: the field appears more than once.",
                echo(&path.to_string())
            );
            error(
                ErrorKind::InvalidInput,
                message,
                source,
                &path,
                "duplicate field",
                "duplicate_field",
            )
        }
        Problem::Expected { reason, expected } => {
            invalid(source, path, reason, &format!("expected {expected}"))
        }
        // A value of `crate::values` says what it is in its own words and kind.
        Problem::Other(text) => match crate::values::kind_of_message(text) {
            Some(kind) => {
                let text = echo(text).into_owned();
                error(kind, text.clone(), source, path, text, "invalid")
            }
            None => invalid(source, path, "invalid", &echo(text.trim_end_matches('.'))),
        },
    }
}

/// "Parameter owner.email is missing." for the field at `path`; with the key the input holds in
/// another case (`hint`: received, expected), the message says so.
fn missing(source: Source, path: &FieldPath, hint: Option<(&str, &str)>) -> ApiError {
    let mut message = format!("Parameter {} is missing.", echo(&path.to_string()));
    if let Some((received, expected)) = hint {
        message.push(' ');
        case_hint(&mut message, source, received, expected);
    }
    error(
        ErrorKind::MissingParameter,
        message,
        source,
        path,
        "field required",
        "missing",
    )
}

fn case_hint(message: &mut String, source: Source, received: &str, expected: &str) {
    let _ = write!(
        message,
        "{} parameters are case-sensitive: received \"{}\", expected \"{}\".",
        source.parameters(),
        echo(received),
        expected
    );
}

/// "Invalid input tags[1]: expected a string."
fn invalid(source: Source, path: &FieldPath, reason: &'static str, detail: &str) -> ApiError {
    let message = if path.steps().is_empty() {
        format!("Invalid input: {detail}.")
    } else {
        format!("Invalid input {}: {detail}.", echo(&path.to_string()))
    };
    error(
        ErrorKind::InvalidInput,
        message,
        source,
        path,
        detail.to_owned(),
        reason,
    )
}

fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    }
}

fn error(
    kind: ErrorKind,
    message: String,
    source: Source,
    path: &FieldPath,
    violation: impl Into<Cow<'static, str>>,
    reason: &'static str,
) -> ApiError {
    let mut error = ApiError::new(kind, message);
    if !path.steps().is_empty() {
        error = error.with_target(path.to_string());
    }
    error.with_violation(FieldViolation::new(path.location(source), violation).with_reason(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_serde_messages() {
        assert_eq!(
            Problem::read("missing field `name`"),
            Problem::Missing { field: "name" }
        );
        assert_eq!(
            Problem::read("unknown field `Name`, expected one of `name`, `tags`, `owner`"),
            Problem::Unknown {
                expected: vec!["name", "tags", "owner"]
            }
        );
        assert_eq!(
            Problem::read("unknown field `a`, expected `b` or `c`"),
            Problem::Unknown {
                expected: vec!["b", "c"]
            }
        );
        assert_eq!(
            Problem::read("unknown field `x`, there are no fields"),
            Problem::Unknown { expected: vec![] }
        );
        // A received key that imitates the expected list does not replace it.
        assert_eq!(
            Problem::read("unknown field `x`, expected `evil``, expected `name`"),
            Problem::Unknown {
                expected: vec!["name"]
            }
        );
        assert_eq!(
            Problem::read("invalid type: null, expected a string"),
            Problem::Null {
                expected: "a string"
            }
        );
        assert_eq!(
            Problem::read("invalid type: string \"a, expected b\", expected u16"),
            Problem::Expected {
                reason: "invalid_type",
                expected: "u16"
            }
        );
        assert_eq!(
            Problem::read("unknown variant `box`, expected `vm` or `metal`"),
            Problem::Expected {
                reason: "unknown_variant",
                expected: "`vm` or `metal`"
            }
        );
        assert_eq!(
            Problem::read("invalid digit found in string"),
            Problem::Other("invalid digit found in string")
        );
    }

    /// The wording `Problem::read` relies on, as serde_json writes it today: each kind of failure
    /// from a real deserialization, with serde_json's position removed by its accessors.
    #[test]
    fn pins_serde_jsons_wording() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Machine {
            name: String,
            cores: u8,
            kind: Kind,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            Vm,
            Metal,
        }
        let read = |json: &str| {
            let error = serde_json::from_str::<Machine>(json).unwrap_err();
            let text = error.to_string();
            let suffix = format!(" at line {} column {}", error.line(), error.column());
            text.strip_suffix(&suffix)
                .map(str::to_owned)
                .unwrap_or(text)
        };
        let cases = [
            (
                r#"{"cores":1,"kind":"Vm"}"#,
                Problem::Missing { field: "name" },
            ),
            (
                r#"{"name":"a","name":"b","cores":1,"kind":"Vm"}"#,
                Problem::Duplicate { field: "name" },
            ),
            (
                r#"{"nme":"a","cores":1,"kind":"Vm"}"#,
                Problem::Unknown {
                    expected: vec!["name", "cores", "kind"],
                },
            ),
            (
                r#"{"name":null,"cores":1,"kind":"Vm"}"#,
                Problem::Null {
                    expected: "a string",
                },
            ),
            (
                r#"{"name":"a","cores":"1","kind":"Vm"}"#,
                Problem::Expected {
                    reason: "invalid_type",
                    expected: "u8",
                },
            ),
            (
                r#"{"name":"a","cores":300,"kind":"Vm"}"#,
                Problem::Expected {
                    reason: "invalid_value",
                    expected: "u8",
                },
            ),
            (
                r#"{"name":"a","cores":1,"kind":"Box"}"#,
                Problem::Expected {
                    reason: "unknown_variant",
                    expected: "`Vm` or `Metal`",
                },
            ),
        ];
        for (json, expected) in cases {
            let message = read(json);
            assert_eq!(Problem::read(&message), expected, "{json}: {message}");
        }
    }

    #[test]
    fn paths_read_like_code() {
        let path = FieldPath(vec![
            Step::Key("owners".into()),
            Step::Index(1),
            Step::Key("email".into()),
        ]);
        assert_eq!(path.to_string(), "owners[1].email");
        assert_eq!(
            path.location(Source::Body),
            ["body", "owners", "1", "email"]
        );
        assert_eq!(FieldPath::default().to_string(), "");
    }

    #[test]
    fn case_only_differences() {
        assert!(same_but_case("Name", "name"));
        assert!(same_but_case("ÉTAT", "état"));
        assert!(!same_but_case("name", "name"));
        assert!(!same_but_case("names", "name"));
    }
}
