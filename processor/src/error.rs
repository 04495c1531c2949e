//! Configuration errors. The engine itself never fails on input: bad records
//! are counted and skipped (see [`crate::EngineStats`]); only configuration can
//! be rejected, and then the message names the file part at fault.

/// A configuration document was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The document is not valid JSON, or has an unknown key or a wrong type.
    #[error("{what}: {message}")]
    Json {
        /// Which document (`SLO config`, `span config`).
        what: &'static str,
        /// serde's message, naming the key and position.
        message: String,
    },
    /// A value is present but unusable (bad duration, bad regex, unsupported field).
    #[error("{what}: {key}: {message}")]
    Value {
        /// Which document.
        what: &'static str,
        /// Path of the key at fault, e.g. `UserOnlineConfigMap.test-ns-one`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn value(
        what: &'static str,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError::Value {
            what,
            key: key.into(),
            message: message.into(),
        }
    }
}
