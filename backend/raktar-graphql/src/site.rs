//! What the transport tells the schema about the site and the request: the registry's names,
//! URLs and sign-in methods ([`SiteInfo`], `Query.registry`), and the web session of the request
//! ([`SessionSecret`]).

/// The site as the web UI shows it (`Query.registry`). Set by the transport
/// ([`crate::RaktarSchema::with_site`]); the defaults describe an unconfigured local server.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    /// Display name of the registry.
    pub name: String,
    /// The name users give the registry in `.cargo/config.toml` (`[registries.NAME]`).
    pub registry_name: String,
    /// The public base URL, without a trailing slash.
    pub public_url: String,
    /// Reads need no credentials.
    pub public_read: bool,
    /// Local accounts may sign in with a password.
    pub password_sign_in: bool,
    /// Label of the single sign-on button, when single sign-on is configured.
    pub sso_label: Option<String>,
}

impl Default for SiteInfo {
    fn default() -> Self {
        Self {
            name: "Raktar".to_owned(),
            registry_name: "raktar".to_owned(),
            public_url: "http://127.0.0.1:3000".to_owned(),
            public_read: false,
            password_sign_in: true,
            sso_label: None,
        }
    }
}

/// The secret (cookie value) of the web session a request came with, if any. Never shown: the
/// services derive the session's key from it.
#[derive(Clone, Default)]
pub struct SessionSecret(pub Option<String>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "SessionSecret([redacted])" } else { "SessionSecret(None)" })
    }
}
