//! The create wizard and the edit form: text fields validated as they are
//! typed, by the same rules as the command line (`domain::tenant`).

use chrono::{DateTime, Utc};
use tui_input::{Input, InputRequest};
use uuid::Uuid;

use crate::backend::{ProgressStep, RequestId, TemplateSummary};
use crate::domain::tenant::Tenant;
use crate::tui::action::TextKey;

/// A text field and the current complaint about its value.
#[derive(Debug, Clone, Default)]
pub struct Field {
    pub input: Input,
    pub error: Option<String>,
}

impl Field {
    pub fn new(value: &str) -> Self {
        Self {
            input: Input::new(value.to_string()),
            error: None,
        }
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// Apply an editing key; returns true when the value may have changed.
    pub fn edit(&mut self, key: TextKey) -> bool {
        edit_input(&mut self.input, key)
    }
}

/// Apply an editing key to an input; returns true when it was an edit.
pub fn edit_input(input: &mut Input, key: TextKey) -> bool {
    let req = match key {
        TextKey::Char(c) => InputRequest::InsertChar(c),
        TextKey::Backspace => InputRequest::DeletePrevChar,
        TextKey::Delete => InputRequest::DeleteNextChar,
        TextKey::DeleteWord => InputRequest::DeletePrevWord,
        TextKey::Clear => InputRequest::DeleteLine,
        TextKey::Left => InputRequest::GoToPrevChar,
        TextKey::Right => InputRequest::GoToNextChar,
        TextKey::Home => InputRequest::GoToStart,
        TextKey::End => InputRequest::GoToEnd,
        _ => return false,
    };
    input.handle(req);
    true
}

/// The steps of the create wizard, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WizardStep {
    Name,
    Domain,
    Template,
    Limits,
    Settings,
    Review,
    /// Sent; provisioning steps arrive as they finish.
    Progress,
    /// Finished, well or not.
    Result,
}

impl WizardStep {
    pub const INPUT: [WizardStep; 6] = [
        WizardStep::Name,
        WizardStep::Domain,
        WizardStep::Template,
        WizardStep::Limits,
        WizardStep::Settings,
        WizardStep::Review,
    ];

    pub fn title(self) -> &'static str {
        match self {
            WizardStep::Name => "Name",
            WizardStep::Domain => "Domain",
            WizardStep::Template => "Template",
            WizardStep::Limits => "Limits",
            WizardStep::Settings => "Settings",
            WizardStep::Review => "Review",
            WizardStep::Progress => "Progress",
            WizardStep::Result => "Result",
        }
    }

    #[must_use]
    pub fn next(self) -> Self {
        match self {
            WizardStep::Name => WizardStep::Domain,
            WizardStep::Domain => WizardStep::Template,
            WizardStep::Template => WizardStep::Limits,
            WizardStep::Limits => WizardStep::Settings,
            WizardStep::Settings => WizardStep::Review,
            WizardStep::Review | WizardStep::Progress => WizardStep::Progress,
            WizardStep::Result => WizardStep::Result,
        }
    }

    pub fn prev(self) -> Option<Self> {
        Some(match self {
            WizardStep::Name | WizardStep::Progress | WizardStep::Result => return None,
            WizardStep::Domain => WizardStep::Name,
            WizardStep::Template => WizardStep::Domain,
            WizardStep::Limits => WizardStep::Template,
            WizardStep::Settings => WizardStep::Limits,
            WizardStep::Review => WizardStep::Settings,
        })
    }
}

/// How a creation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WizardOutcome {
    Created(Box<Tenant>),
    /// Done without a tenant in the event (the list will bring it).
    Done(String),
    Failed(String),
}

/// The create wizard.
#[derive(Debug, Clone)]
pub struct Wizard {
    pub step: WizardStep,
    pub name: Field,
    pub domain: Field,
    /// `None` until the backend answers `LoadTemplates`.
    pub templates: Option<Vec<TemplateSummary>>,
    pub template_cursor: usize,
    /// Which limit field has the focus: 0 connections, 1 timeout, 2 quota.
    pub limit_focus: usize,
    pub connection_limit: Field,
    pub statement_timeout: Field,
    pub storage_quota: Field,
    pub settings: Field,
    pub request: Option<RequestId>,
    pub started_at: Option<DateTime<Utc>>,
    pub steps: Vec<ProgressStep>,
    pub outcome: Option<WizardOutcome>,
}

impl Wizard {
    pub fn new(defaults: &FormDefaults) -> Self {
        Self {
            step: WizardStep::Name,
            name: Field::default(),
            domain: Field::default(),
            templates: None,
            template_cursor: 0,
            limit_focus: 0,
            connection_limit: Field::new(&defaults.connection_limit.to_string()),
            statement_timeout: Field::new(&defaults.statement_timeout),
            storage_quota: Field::new(&defaults.storage_quota),
            settings: Field::new("{}"),
            request: None,
            started_at: None,
            steps: Vec::new(),
            outcome: None,
        }
    }

    /// The selected template's name, or the default while none are loaded.
    pub fn template_name<'a>(&'a self, default: &'a str) -> &'a str {
        self.templates
            .as_ref()
            .and_then(|t| t.get(self.template_cursor))
            .map_or(default, |t| t.name.as_str())
    }

    pub fn limit_field_mut(&mut self) -> &mut Field {
        match self.limit_focus {
            0 => &mut self.connection_limit,
            1 => &mut self.statement_timeout,
            _ => &mut self.storage_quota,
        }
    }
}

/// Defaults for new tenants, from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDefaults {
    pub template: String,
    pub connection_limit: i32,
    pub statement_timeout: String,
    pub storage_quota: String,
}

/// The edit form for one tenant.
#[derive(Debug, Clone)]
pub struct EditForm {
    pub tenant: Uuid,
    /// Focused field: 0 name, 1 connections, 2 timeout, 3 quota, 4 settings.
    pub focus: usize,
    pub fields: [Field; 5],
    /// The values as loaded, to send only what changed.
    pub original: [String; 5],
    pub request: Option<RequestId>,
}

impl EditForm {
    pub const LABELS: [&'static str; 5] = [
        "Name",
        "Connection limit",
        "Statement timeout",
        "Storage quota",
        "Settings (JSON)",
    ];

    pub fn new(t: &Tenant) -> Self {
        let original = [
            crate::domain::sanitize::clean(&t.name),
            t.connection_limit.to_string(),
            t.statement_timeout
                .map(|ms| format!("{ms}ms"))
                .unwrap_or_default(),
            t.storage_quota_bytes
                .map(crate::domain::units::format_size)
                .map(|s| s.replace(' ', "").replace("iB", "B"))
                .unwrap_or_default(),
            t.settings.to_string(),
        ];
        Self {
            tenant: t.id,
            focus: 0,
            fields: original.clone().map(|v| Field::new(&v)),
            original,
            request: None,
        }
    }
}
