//! Playbooks (the script a call uses) and their `initial_message` template.
//!
//! Templates are Jinja (the `minijinja` engine): `Hi {{ first_name }}, this is Acme about
//! {{ custom_fields.plan }}`. A template is checked when saved: its syntax, and that every
//! variable it reads is a contact field (see [`VARIABLES`]), `custom_fields.<name>` or
//! `custom.<name>`. Rendering never shows a literal `{{ ... }}`: a contact without a value gets
//! the field's default ([`default_for`]: "there" for `first_name`, empty otherwise), and
//! filters such as `{{ company | default("your team") }}` work as in Jinja.

use std::{collections::BTreeMap, fmt};

use jiff::Timestamp;
use minijinja::{Environment, UndefinedBehavior};

use super::{
    AccountId, ErrorCode, FieldError,
    contact::{Contact, ContactDetails},
};

/// Longest template, in characters.
const MAX_TEMPLATE: usize = 2_000;
/// Longest rendered message, in characters; longer output is cut.
const MAX_MESSAGE: usize = 4_000;
/// Instructions one rendering may run: generous for any message, fatal to a runaway loop.
const FUEL: u64 = 100_000;

/// Variables a template may read besides the text fields of [`ContactDetails`].
pub const VARIABLES: &[&str] = &["phone", "timezone", "custom_fields", "custom"];

/// What a contact without a value for `field` is called in a message: `first_name` is
/// "there" ("Hi there"); every other field is undefined, which renders empty and takes a
/// template's own `| default("...")`.
pub fn default_for(field: &str) -> &'static str {
    match field {
        "first_name" => "there",
        _ => "",
    }
}

/// A playbook id: a UUID (the seed API's shape), shown in its hyphenated lower-case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaybookId(uuid::Uuid);

impl PlaybookId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::try_parse(s.trim()).ok().map(Self)
    }
}

impl fmt::Display for PlaybookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[derive(Debug, Clone)]
pub struct Playbook {
    pub id: PlaybookId,
    pub account_id: AccountId,
    pub name: String,
    pub initial_message: MessageTemplate,
    /// The message a call leaves on an answering machine, after the beep; `None`: none.
    pub voicemail_audio_id: Option<super::ids::AudioId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A checked message template: it parses, reads only known variables and renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate(String);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // `custom_fields.a.b` on a missing `a` is empty rather than an error.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(20);
    env
}

impl MessageTemplate {
    pub fn parse(source: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = |why: String| FieldError::new(ErrorCode::InvalidField, field, why);
        if source.chars().count() > MAX_TEMPLATE {
            return Err(invalid(format!(
                "must be at most {MAX_TEMPLATE} characters"
            )));
        }
        let env = environment();
        let template = env
            .template_from_str(source)
            .map_err(|e| invalid(format!("template syntax error: {}", describe(&e))))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|name| !is_known(name))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(invalid(format!(
                "unknown variable {name:?}; use a contact field ({}, {}), \
                 custom_fields.<name> or custom.<name>",
                ContactDetails::NAMES.join(", "),
                ["phone", "timezone"].join(", "),
            )));
        }
        // Errors that only show when rendering (a filter given the wrong type, a runaway loop):
        // try it on an empty contact and on a full one.
        for sample in [sample_context(false), sample_context(true)] {
            template
                .render(sample)
                .map_err(|e| invalid(format!("template cannot be rendered: {}", describe(&e))))?;
        }
        Ok(Self(source.to_owned()))
    }

    /// Wraps a template read back from our own store.
    pub fn from_trusted(source: String) -> Self {
        Self(source)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message for one contact. A template that checked out on save renders for every
    /// contact; should one still fail (it ran out of fuel on unusually long values), the
    /// answer is empty rather than half a message or template syntax.
    pub fn render(&self, contact: &Contact) -> String {
        let env = environment();
        let mut message = env
            .render_str(&self.0, context(contact))
            .unwrap_or_default();
        if message.chars().count() > MAX_MESSAGE {
            message = message.chars().take(MAX_MESSAGE).collect();
        }
        message
    }
}

impl MessageTemplate {
    /// The message for each contact, the template compiled once (a campaign renders it for
    /// up to 100,000 contacts in one request).
    pub fn render_all<'a>(&self, contacts: impl IntoIterator<Item = &'a Contact>) -> Vec<String> {
        let env = environment();
        let Ok(template) = env.template_from_str(&self.0) else {
            return contacts.into_iter().map(|_| String::new()).collect();
        };
        contacts
            .into_iter()
            .map(|contact| {
                let mut message = template.render(context(contact)).unwrap_or_default();
                if message.chars().count() > MAX_MESSAGE {
                    message = message.chars().take(MAX_MESSAGE).collect();
                }
                message
            })
            .collect()
    }
}

/// The `initial_message` of `playbook` for `contact`.
pub fn render(playbook: &Playbook, contact: &Contact) -> String {
    playbook.initial_message.render(contact)
}

/// Is a variable path (`first_name`, `custom_fields.plan`) one a template may read?
fn is_known(path: &str) -> bool {
    let (root, rest) = match path.split_once('.') {
        Some((root, rest)) => (root, Some(rest)),
        None => (path, None),
    };
    match root {
        "custom_fields" | "custom" => true,
        // Text fields have no attributes.
        _ => rest.is_none() && (ContactDetails::NAMES.contains(&root) || VARIABLES.contains(&root)),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let what = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    match e.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    }
}

fn context(contact: &Contact) -> minijinja::Value {
    let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
    for name in ContactDetails::NAMES {
        // A missing value is left undefined (it renders empty and `default` applies to it)
        // unless the field has a default of its own.
        let value = contact
            .details
            .get(name)
            .or_else(|| Some(default_for(name)).filter(|d| !d.is_empty()));
        if let Some(value) = value {
            ctx.insert(name, value.into());
        }
    }
    ctx.insert("phone", contact.phone.as_str().into());
    if let Some(zone) = &contact.timezone {
        ctx.insert("timezone", zone.name().into());
    }
    let custom = minijinja::Value::from(minijinja::value::Serde(&contact.custom_fields));
    ctx.insert("custom_fields", custom.clone());
    ctx.insert("custom", custom);
    minijinja::Value::from(minijinja::value::Serde(&ctx))
}

/// A contact with no optional field, or with every field filled, to try a template on.
fn sample_context(full: bool) -> minijinja::Value {
    let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
    for name in ContactDetails::NAMES
        .iter()
        .chain(["phone", "timezone"].iter())
    {
        if full || *name == "phone" {
            ctx.insert(name, "Sample".into());
        } else if !default_for(name).is_empty() {
            ctx.insert(name, default_for(name).into());
        }
    }
    let custom = minijinja::Value::from(minijinja::value::Serde(serde_json::Map::new()));
    ctx.insert("custom_fields", custom.clone());
    ctx.insert("custom", custom);
    minijinja::Value::from(minijinja::value::Serde(&ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::ContactPatch;
    use serde_json::json;

    #[test]
    fn rendering_many_contacts_matches_rendering_each() {
        let t = MessageTemplate::parse(
            "Hi {{ first_name }} at {{ company | default('home') }}",
            "m",
        )
        .unwrap();
        let people = [
            contact(json!({ "phone": "+14155550100", "first_name": "Ann", "company": "Acme" })),
            contact(json!({ "phone": "+14155550101" })),
        ];
        let all = t.render_all(&people);
        assert_eq!(all, people.iter().map(|c| t.render(c)).collect::<Vec<_>>());
        assert_eq!(all, ["Hi Ann at Acme", "Hi there at home"]);
    }

    fn contact(fields: serde_json::Value) -> Contact {
        let patch = ContactPatch::from_json(&fields, "").unwrap();
        Contact::create(
            AccountId::generate(),
            &patch,
            "2027-01-05T10:00:00Z".parse().unwrap(),
            "",
        )
        .unwrap()
    }

    fn template(source: &str) -> MessageTemplate {
        MessageTemplate::parse(source, "initial_message").unwrap()
    }

    #[test]
    fn fields_and_custom_fields_are_filled_in() {
        let t = template(
            "Hi {{first_name}} {{ last_name }}, this is Acme about your {{ custom_fields.plan }} \
             plan ({{ custom.seats }} seats) in {{ city | default('your city') }}.",
        );
        let ann = contact(json!({"phone": "+14155550199", "first_name": "Ann",
            "last_name": "Lee", "custom_fields": {"plan": "gold", "seats": 3}}));
        assert_eq!(
            t.render(&ann),
            "Hi Ann Lee, this is Acme about your gold plan (3 seats) in your city."
        );
    }

    #[test]
    fn missing_values_fall_back_to_defaults_never_to_template_syntax() {
        let t = template("Hi {{ first_name }}, about {{ custom_fields.plan }}{{ company }}!");
        let nobody = contact(json!({"phone": "+14155550199"}));
        let message = t.render(&nobody);
        assert_eq!(message, "Hi there, about !");
        assert!(!message.contains("{{"));
    }

    #[test]
    fn render_takes_the_playbook_message() {
        let playbook = Playbook {
            id: PlaybookId::generate(),
            account_id: AccountId::generate(),
            name: "Renewals".into(),
            initial_message: template("Hello {{ first_name | upper }}"),
            voicemail_audio_id: None,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let bo = contact(json!({"phone": "+14155550199", "first_name": "Bo"}));
        assert_eq!(render(&playbook, &bo), "Hello BO");
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_refused_with_the_reason() {
        for (source, reason) in [
            ("Hi {{ firstname }}", "unknown variable \"firstname\""),
            (
                "Hi {{ first_name.upper }}",
                "unknown variable \"first_name.upper\"",
            ),
            (
                "{% for i in range(10) %}x{% endfor %}",
                "unknown variable \"range\"",
            ),
            ("Hi {{ first_name", "template syntax error"),
            ("{% if %}", "template syntax error"),
            ("{{ first_name | no_such_filter }}", "no_such_filter"),
        ] {
            let err = MessageTemplate::parse(source, "initial_message").unwrap_err();
            assert_eq!(err.field, "initial_message");
            assert!(err.message.contains(reason), "{source}: {}", err.message);
        }
    }

    #[test]
    fn a_runaway_template_is_refused() {
        let source = "{% for a in first_name %}{% for b in first_name %}{% for c in first_name \
                      %}{% for d in first_name %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}";
        // "Sample" has 6 letters: 6^4 = 1,296 iterations is fine...
        assert!(MessageTemplate::parse(source, "m").is_ok());
        // ...but a long name is not allowed to run for ever.
        let t = MessageTemplate::parse(source, "m").unwrap();
        let long = contact(json!({"phone": "+14155550199", "first_name": "x".repeat(400)}));
        assert_eq!(t.render(&long), "");
    }

    #[test]
    fn playbook_ids_are_uuids() {
        let id = PlaybookId::generate();
        assert_eq!(PlaybookId::parse(&id.to_string()), Some(id));
        assert_eq!(PlaybookId::parse("pb_1"), None);
    }
}
