//! `google.api.http` rules: a method's HTTP verb and path template, where the request
//! body goes and which reply field is the response body. Read from a method's
//! annotation, or written in the configuration file for protos that have none.

use http::Method as HttpMethod;
use prost_reflect::{DynamicMessage, MethodDescriptor, Value};
use serde::{Deserialize, Serialize};

use crate::path_template::PathTemplate;

/// Full name of the method option that holds a method's rule.
const HTTP_OPTION: &str = "google.api.http";

/// One rule, shaped as `google.api.HttpRule` (and its YAML form in a service
/// configuration): exactly one of the verbs or `custom`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    /// The method, `package.Service.Method`; only in the configuration file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// `GET` at this path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<String>,
    /// `PUT` at this path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<String>,
    /// `POST` at this path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<String>,
    /// `DELETE` at this path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
    /// `PATCH` at this path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Another verb (`HEAD`, `OPTIONS`, ...) at a path template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomPattern>,
    /// Where the request body goes: `*` (the whole request message, less the fields the
    /// path sets), a top-level field's name, or empty (no body; fields come from the path
    /// and the query).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// A top-level field of the reply to send as the response body instead of the whole
    /// reply.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_body: String,
    /// More verbs and paths for the same method, which have no bindings of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_bindings: Vec<HttpRule>,
}

/// A verb other than the five with keys of their own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// The HTTP method, such as `HEAD`.
    pub kind: String,
    /// The path template.
    pub path: String,
}

/// What is wrong with a rule: the key (`get`, `additional_bindings[0].body`) and why.
pub type RuleProblem = (String, String);

impl HttpRule {
    /// The verb and the parsed path template.
    ///
    /// # Errors
    ///
    /// The key and the reason when no verb or several are given, or the template or
    /// custom verb does not parse.
    pub fn pattern(&self) -> Result<(HttpMethod, PathTemplate), RuleProblem> {
        let verbs = [
            ("get", HttpMethod::GET, &self.get),
            ("put", HttpMethod::PUT, &self.put),
            ("post", HttpMethod::POST, &self.post),
            ("delete", HttpMethod::DELETE, &self.delete),
            ("patch", HttpMethod::PATCH, &self.patch),
        ];
        let mut given = verbs
            .into_iter()
            .filter_map(|(key, verb, template)| Some((key, verb, template.as_deref()?)));
        let custom = self.custom.as_ref().map(|custom| {
            let verb = HttpMethod::from_bytes(custom.kind.as_bytes()).map_err(|_| {
                let message = format!("{:?} is not an HTTP method", custom.kind);
                ("custom.kind".to_owned(), message)
            });
            ("custom.path", verb, custom.path.as_str())
        });
        let (key, verb, template) = match (given.next(), custom) {
            (Some((key, verb, template)), None) => (key, verb, template),
            (None, Some((key, verb, template))) => (key, verb?, template),
            (None, None) => {
                let message = "give one of get, put, post, delete, patch or custom".to_owned();
                return Err((String::new(), message));
            }
            (Some(_), Some(_)) => {
                let message = "give one of get, put, post, delete, patch or custom, not several";
                return Err(("custom".to_owned(), message.to_owned()));
            }
        };
        if let Some((other, _, _)) = given.next() {
            let message = format!(
                "give one of get, put, post, delete, patch or custom, not `{key}` and `{other}`"
            );
            return Err((other.to_owned(), message));
        }
        let template = PathTemplate::parse(template).map_err(|e| (key.to_owned(), e))?;
        Ok((verb, template))
    }

    /// Checks what can be checked without descriptors: each binding's pattern, and that
    /// additional bindings have none of their own.
    ///
    /// # Errors
    ///
    /// The first problem, with its key under the rule.
    pub fn check(&self) -> Result<(), RuleProblem> {
        self.pattern()?;
        for (i, binding) in self.additional_bindings.iter().enumerate() {
            let key = |inner: &str| {
                let mut key = format!("additional_bindings[{i}]");
                if !inner.is_empty() {
                    key.push('.');
                    key.push_str(inner);
                }
                key
            };
            binding
                .pattern()
                .map_err(|(inner, message)| (key(&inner), message))?;
            if !binding.additional_bindings.is_empty() {
                let message = "an additional binding has no bindings of its own".to_owned();
                return Err((key("additional_bindings"), message));
            }
        }
        Ok(())
    }

    /// The rule in `method`'s `google.api.http` option, if it has one.
    pub(crate) fn of_method(method: &MethodDescriptor) -> Option<HttpRule> {
        let option = method.parent_pool().get_extension_by_name(HTTP_OPTION)?;
        let options = method.options();
        if !options.has_extension(&option) {
            return None;
        }
        match options.get_extension(&option).as_ref() {
            Value::Message(rule) => Some(HttpRule::from_message(rule)),
            _ => None,
        }
    }

    fn from_message(rule: &DynamicMessage) -> HttpRule {
        let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
            Some(Value::String(text)) => text.clone(),
            _ => String::new(),
        };
        let verb = |name: &str| rule.has_field_by_name(name).then(|| text(name));
        let custom = rule
            .get_field_by_name("custom")
            .filter(|_| rule.has_field_by_name("custom"))
            .and_then(|custom| match custom.as_ref() {
                Value::Message(custom) => Some(custom.clone()),
                _ => None,
            })
            .map(|custom| {
                let custom_text = |name: &str| match custom.get_field_by_name(name).as_deref() {
                    Some(Value::String(text)) => text.clone(),
                    _ => String::new(),
                };
                CustomPattern {
                    kind: custom_text("kind"),
                    path: custom_text("path"),
                }
            });
        let additional_bindings = match rule.get_field_by_name("additional_bindings").as_deref() {
            Some(Value::List(bindings)) => bindings
                .iter()
                .filter_map(|binding| match binding {
                    Value::Message(binding) => Some(HttpRule::from_message(binding)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        HttpRule {
            selector: text("selector"),
            get: verb("get"),
            put: verb("put"),
            post: verb("post"),
            delete: verb("delete"),
            patch: verb("patch"),
            custom,
            body: text("body"),
            response_body: text("response_body"),
            additional_bindings,
        }
    }
}
