//! Validated identifiers. Nothing past the API boundary holds an unchecked name.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a name was refused; the message names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty or longer than allowed.
    #[error("{what} must be 1-{max} characters long, got {len}")]
    Length {
        /// Which kind of name.
        what: &'static str,
        /// The maximum length.
        max: usize,
        /// The length given.
        len: usize,
    },
    /// A segment does not match `[a-z0-9][a-z0-9._-]*`.
    #[error("{what} segment {segment:?} must match [a-z0-9][a-z0-9._-]* (lowercase letters, digits, '.', '_', '-', starting with a letter or digit)")]
    Segment {
        /// Which kind of name.
        what: &'static str,
        /// The offending segment.
        segment: String,
    },
    /// A version number that is not a positive integer.
    #[error("version must be a positive integer, got {0:?}")]
    Version(String),
    /// A role that does not exist.
    #[error("role must be one of reader, author, deployer, admin, got {0:?}")]
    Role(String),
}

fn valid_segment(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// A prompt name: 1-200 characters, segments of `[a-z0-9][a-z0-9._-]*` joined by `/`.
    PromptName
);
string_newtype!(
    /// An environment name: 1-63 characters, one segment of `[a-z0-9][a-z0-9._-]*`.
    EnvName
);
string_newtype!(
    /// The tenant every row belongs to. There is one default project today; keys and queries
    /// are already scoped by it so that multi-tenancy is not a migration of every table.
    ProjectId
);

impl PromptName {
    /// Maximum length of a prompt name.
    pub const MAX_LEN: usize = 200;

    /// Validates a prompt name such as `support/triage`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_len("prompt name", s, Self::MAX_LEN)?;
        for segment in s.split('/') {
            if !valid_segment(segment) {
                return Err(NameError::Segment {
                    what: "prompt name",
                    segment: segment.into(),
                });
            }
        }
        Ok(Self(s.to_owned()))
    }
}

impl EnvName {
    /// Maximum length of an environment name.
    pub const MAX_LEN: usize = 63;

    /// Validates an environment name such as `production`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_len("environment name", s, Self::MAX_LEN)?;
        if !valid_segment(s) {
            return Err(NameError::Segment {
                what: "environment name",
                segment: s.into(),
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The environment `resolve` uses when none is given.
    pub fn production() -> Self {
        Self("production".into())
    }
}

impl ProjectId {
    /// Validates a project id (same rule as an environment name).
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_len("project id", s, 63)?;
        if !valid_segment(s) {
            return Err(NameError::Segment {
                what: "project id",
                segment: s.into(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl Default for ProjectId {
    fn default() -> Self {
        Self("default".into())
    }
}

fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(NameError::Length { what, max, len });
    }
    Ok(())
}

/// A version number: 1 for the first version of a prompt, then max + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Version(u32);

impl Version {
    /// The first version of every prompt.
    pub const FIRST: Version = Version(1);

    /// A version from an integer, refusing zero, negatives and overflow.
    pub fn new(n: i64) -> Result<Self, NameError> {
        u32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .map(Version)
            .ok_or_else(|| NameError::Version(n.to_string()))
    }

    /// The number as stored in a database.
    pub fn get(self) -> i64 {
        i64::from(self.0)
    }

    /// The version after this one.
    pub fn next(self) -> Self {
        Version(self.0.saturating_add(1))
    }
}

impl TryFrom<i64> for Version {
    type Error = NameError;
    fn try_from(n: i64) -> Result<Self, NameError> {
        Version::new(n)
    }
}

impl From<Version> for i64 {
    fn from(v: Version) -> i64 {
        v.get()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Version {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        s.parse::<i64>()
            .map_err(|_| NameError::Version(s.into()))
            .and_then(Version::new)
    }
}

/// What a token may do. Each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and resolves.
    Reader,
    /// Also creates versions, requests changes and attaches validation results.
    Author,
    /// Also approves or rejects other people's change requests.
    Reviewer,
    /// Also deploys and rolls back.
    Deployer,
    /// Also manages environments and tokens.
    Admin,
}

impl Role {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Author => "author",
            Role::Reviewer => "reviewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 5] = [
        Role::Reader,
        Role::Author,
        Role::Reviewer,
        Role::Deployer,
        Role::Admin,
    ];
}

/// Where a token's deploy and rollback rights reach: `None` means everywhere in its project.
/// A grant limited to `staging` may deploy there but not to `production`; a grant limited to
/// the prefix `support/` may deploy `support/triage` but not `billing/refund`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantScope {
    /// The environments deploy and rollback grants are limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<EnvName>>,
    /// The prompt name prefixes the token's grants are limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_prefixes: Option<Vec<String>>,
}

impl GrantScope {
    /// Whether a grant limited this way reaches environment `env`.
    pub fn covers_env(&self, env: &EnvName) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|envs| envs.iter().any(|e| e == env))
    }

    /// Whether a grant limited this way reaches prompt `name`.
    pub fn covers_prompt(&self, name: &PromptName) -> bool {
        self.prompt_prefixes
            .as_ref()
            .is_none_or(|prefixes| prefixes.iter().any(|p| name.as_str().starts_with(p)))
    }
}

impl std::str::FromStr for Role {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        match s {
            "reader" => Ok(Role::Reader),
            "author" => Ok(Role::Author),
            "reviewer" => Ok(Role::Reviewer),
            "deployer" => Ok(Role::Deployer),
            "admin" => Ok(Role::Admin),
            other => Err(NameError::Role(other.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_names_accept_folders_and_refuse_bad_segments() {
        assert!(PromptName::parse("support/triage").is_ok());
        assert!(PromptName::parse("a/b.c/d_e-f9").is_ok());
        for bad in ["", "Support", "/a", "a/", "a//b", "-a", "a b", "a/.b", "é"] {
            assert!(PromptName::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(PromptName::parse(&"a".repeat(200)).is_ok());
        assert!(PromptName::parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn env_names_are_one_segment() {
        assert!(EnvName::parse("production").is_ok());
        assert!(EnvName::parse("prod/eu").is_err());
        assert!(EnvName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn versions_are_positive() {
        assert!(Version::new(0).is_err());
        assert!(Version::new(-1).is_err());
        assert_eq!("3".parse::<Version>().unwrap().get(), 3);
        assert!("x".parse::<Version>().is_err());
        assert!(serde_json::from_str::<Version>("0").is_err());
    }
}
