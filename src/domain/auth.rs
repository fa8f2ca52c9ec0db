//! Who may do what: scopes, the authenticated principal, and the audit trail's vocabulary.

use std::fmt;

use serde::Serialize;

use super::AccountId;

/// A permission carried by an API key or a JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "callbacks:read")]
    CallbacksRead,
    #[serde(rename = "callbacks:write")]
    CallbacksWrite,
    #[serde(rename = "campaigns:read")]
    CampaignsRead,
    #[serde(rename = "campaigns:write")]
    CampaignsWrite,
    /// Contacts and the do-not-call list.
    #[serde(rename = "contacts:read")]
    ContactsRead,
    #[serde(rename = "contacts:write")]
    ContactsWrite,
    #[serde(rename = "agents:read")]
    AgentsRead,
    #[serde(rename = "agents:write")]
    AgentsWrite,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Everything, including keys, JWT settings and the audit trail.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::CallbacksRead,
        Scope::CallbacksWrite,
        Scope::CampaignsRead,
        Scope::CampaignsWrite,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::WebhooksWrite,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CallbacksRead => "callbacks:read",
            Scope::CallbacksWrite => "callbacks:write",
            Scope::CampaignsRead => "campaigns:read",
            Scope::CampaignsWrite => "campaigns:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name; `schedule-callbacks:read` and `schedule-callbacks:write` (the
    /// Talkdesk names) mean `callbacks:read` and `callbacks:write`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "schedule-callbacks:read" => return Some(Scope::CallbacksRead),
            "schedule-callbacks:write" => return Some(Scope::CallbacksWrite),
            _ => {}
        }
        Self::ALL.into_iter().find(|sc| sc.as_str() == s)
    }

    /// Does holding `self` grant `needed`? `admin` grants all; a write scope grants its read.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed
            || self == Scope::Admin
            || matches!(
                (self, needed),
                (Scope::CallbacksWrite, Scope::CallbacksRead)
                    | (Scope::CampaignsWrite, Scope::CampaignsRead)
                    | (Scope::ContactsWrite, Scope::ContactsRead)
                    | (Scope::AgentsWrite, Scope::AgentsRead)
            )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey(String),
    Jwt {
        subject: String,
    },
    User(String),
    Cli,
    System,
    /// The customer, through the link to their callback's page (`/c/{token}`).
    Customer,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::ApiKey(_) => "api_key",
            Actor::Jwt { .. } => "jwt",
            Actor::User(_) => "user",
            Actor::Cli => "cli",
            Actor::System => "system",
            Actor::Customer => "customer",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Actor::ApiKey(id) | Actor::User(id) => id,
            Actor::Jwt { subject } => subject,
            Actor::Cli => "cli",
            Actor::System => "ringback",
            Actor::Customer => "customer_link",
        }
    }
}

/// An authenticated caller: the account every query is scoped to, who it is, what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: AccountId,
    pub actor: Actor,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|s| s.grants(needed))
    }
}

/// One change to record: what was done to which resource, with the fields that changed.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    /// `{"field": {"before": ..., "after": ...}}` for each changed field.
    pub changes: serde_json::Value,
}

/// The fields that differ between two JSON objects, as `{"field": {"before", "after"}}`.
/// `updated_at` is left out: it changes with everything.
pub fn diff(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = serde_json::Map::new();
    let null = serde_json::Value::Null;
    for key in b.keys().chain(a.keys()) {
        if key == "updated_at" || out.contains_key(key) {
            continue;
        }
        let (old, new) = (b.get(key).unwrap_or(&null), a.get(key).unwrap_or(&null));
        if old != new {
            out.insert(
                key.clone(),
                serde_json::json!({ "before": old, "after": new }),
            );
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_talkdesk_scope_name_is_an_alias() {
        assert_eq!(
            Scope::parse("schedule-callbacks:write"),
            Some(Scope::CallbacksWrite)
        );
        assert_eq!(Scope::parse("callbacks:delete"), None);
    }

    #[test]
    fn admin_grants_all_and_write_grants_read() {
        assert!(Scope::Admin.grants(Scope::WebhooksWrite));
        assert!(Scope::CallbacksWrite.grants(Scope::CallbacksRead));
        assert!(!Scope::CallbacksRead.grants(Scope::CallbacksWrite));
        assert!(!Scope::CallbacksWrite.grants(Scope::AgentsRead));
    }

    #[test]
    fn diff_lists_changed_fields_only() {
        let d = diff(
            &json!({"a": 1, "b": 2, "updated_at": "x"}),
            &json!({"a": 1, "b": 3, "c": null, "updated_at": "y"}),
        );
        assert_eq!(d, json!({"b": {"before": 2, "after": 3}}));
    }
}

/// One entry of the audit trail, as `GET /v1/audit` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(value_type = String)]
    pub at: jiff::Timestamp,
    pub actor: AuditActor,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditActor {
    /// `api_key`, `jwt`, `user`, `cli` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The key id, JWT subject or user name.
    pub id: String,
}
