//! Email templates: `email-templates/<name>/{subject.txt,body.txt,body.html}.j2`, compiled into
//! the binary and overridable by `mail.templates_dir`. HTML is autoescaped by file name.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// Every template the service renders, compiled in so the bare binary works anywhere.
const BUILT_IN: &[(&str, &str)] = &[
    ("confirmation/subject.txt.j2", include_str!("../../email-templates/confirmation/subject.txt.j2")),
    ("confirmation/body.txt.j2", include_str!("../../email-templates/confirmation/body.txt.j2")),
    ("confirmation/body.html.j2", include_str!("../../email-templates/confirmation/body.html.j2")),
    ("digest/subject.txt.j2", include_str!("../../email-templates/digest/subject.txt.j2")),
    ("digest/body.txt.j2", include_str!("../../email-templates/digest/body.txt.j2")),
    ("digest/body.html.j2", include_str!("../../email-templates/digest/body.html.j2")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template {name}: {source}")]
    Render { name: String, source: minijinja::Error },
    #[error("email template {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct EmailTemplates {
    env: Environment<'static>,
}

impl EmailTemplates {
    /// The built-in templates, with any file of the same name in `dir` taking their place.
    /// Every template is parsed here, so a broken override stops start-up instead of a send.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in BUILT_IN {
            let source = match dir.map(|d| d.join(name)) {
                Some(path) if path.is_file() => std::fs::read_to_string(&path)
                    .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?,
                _ => (*source).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|source| TemplateError::Render { name: (*name).to_owned(), source })?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, kind: &str, context: impl Serialize) -> Result<RenderedEmail, TemplateError> {
        let context = minijinja::Value::from_serialize(&context);
        let render = |part: &str| {
            let name = format!("{kind}/{part}.j2");
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&context))
                .map_err(|source| TemplateError::Render { name, source })
        };
        // A subject is one line: whatever the template does with white space, no newline may
        // reach the header.
        let subject = render("subject.txt")?.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(RenderedEmail { subject, text: render("body.txt")?, html: render("body.html")? })
    }
}
