//! The HTTP API of a route: every binding of a method to a verb and a path template,
//! from the rules in the configuration file, the methods' `google.api.http`
//! annotations, and `POST /package.Service/Method` for methods with neither.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method as HttpMethod;
use prost_reflect::{DescriptorPool, FieldDescriptor, MessageDescriptor, MethodDescriptor};

use crate::http_rule::HttpRule;
use crate::path_template::{percent_decode, PathTemplate, RequestPath, Shape};
use crate::Method;

/// Where a binding's request body goes.
#[derive(Clone, Debug)]
pub(crate) enum BodyTarget {
    /// No body: every field comes from the path and the query.
    None,
    /// The body is the request message (less the fields the path sets).
    Whole,
    /// The body is this top-level field.
    Field(FieldDescriptor),
}

/// One verb and path template of a method.
#[derive(Clone, Debug)]
pub struct Binding {
    method: Method,
    verb: HttpMethod,
    template: PathTemplate,
    /// The field path each template variable sets, in the template's order.
    pub(crate) variables: Vec<Vec<FieldDescriptor>>,
    pub(crate) body: BodyTarget,
    pub(crate) response_body: Option<FieldDescriptor>,
    /// Where the binding comes from, for errors: `http_rules[2] (shop.v1.Shop.Get)`.
    source: String,
    /// The index of the configuration rule it comes from.
    rule: Option<usize>,
}

impl Binding {
    /// The method it calls.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The HTTP verb.
    pub(crate) fn verb(&self) -> &HttpMethod {
        &self.verb
    }

    /// The path template.
    pub(crate) fn template(&self) -> &PathTemplate {
        &self.template
    }

    /// Whether the binding is the plain `POST /package.Service/Method` with the whole
    /// request message as the body, which needs no field mapping.
    pub(crate) fn is_plain(&self) -> bool {
        self.variables.is_empty()
            && matches!(self.body, BodyTarget::Whole)
            && self.response_body.is_none()
    }
}

/// A binding that matches a request, with its path variables' values. Owned, so that a
/// streaming request can build each of its messages after the call has started.
#[derive(Clone, Debug)]
pub struct Matched {
    /// The binding.
    pub binding: Arc<Binding>,
    /// Each variable's decoded value, in the order of `binding.variables`.
    pub(crate) values: Vec<String>,
}

/// Why no binding takes a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No binding's template matches the path.
    NotFound,
    /// Templates match, with these other verbs.
    WrongVerb(Vec<HttpMethod>),
    /// The path matches but a variable's value is badly encoded.
    BadPath(String),
}

/// A problem with the rules: the configuration rule it is about, if any, and a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// Index into the configuration's rules.
    pub rule: Option<usize>,
    /// What is wrong, naming the bindings involved.
    pub message: String,
}

/// Every binding of a route, and the descriptors (whose types decode `Any` fields and
/// error details).
#[derive(Clone, Debug)]
pub struct HttpApi {
    pool: DescriptorPool,
    bindings: Vec<Arc<Binding>>,
}

impl HttpApi {
    /// Binds every method of every service in `pool`: by its rule in `rules` (matched by
    /// `selector`), else by its `google.api.http` annotation, else, with
    /// `post_grpc_paths`, at `POST /package.Service/Method` with a JSON body.
    ///
    /// # Errors
    ///
    /// A rule for a method that does not exist, a template variable or body naming a
    /// field the message does not have, or two bindings of the same verb and path.
    pub fn new(
        pool: DescriptorPool,
        rules: &[HttpRule],
        post_grpc_paths: bool,
    ) -> Result<HttpApi, RuleError> {
        let mut by_selector: HashMap<&str, usize> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let error = |message: String| RuleError {
                rule: Some(i),
                message,
            };
            if method_by_name(&pool, &rule.selector).is_none() {
                let message = format!("no method {:?} in the descriptors", rule.selector);
                return Err(error(message));
            }
            if let Some(first) = by_selector.insert(&rule.selector, i) {
                let message = format!(
                    "http_rules[{first}] is already the rule of {}",
                    rule.selector
                );
                return Err(error(message));
            }
        }
        let mut bindings = Vec::new();
        for method in pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
        {
            let name = method.full_name().to_owned();
            let (rule, index) = match by_selector.get(name.as_str()) {
                Some(&i) => (rules.get(i).cloned(), Some(i)),
                None => (HttpRule::of_method(&method), None),
            };
            let Some(rule) = rule else {
                if post_grpc_paths {
                    bindings.push(grpc_path_binding(method)?);
                }
                continue;
            };
            let source = match index {
                Some(i) => format!("http_rules[{i}] ({name})"),
                None => format!("the google.api.http annotation of {name}"),
            };
            let error = |message: String| RuleError {
                rule: index,
                message: format!("{source}: {message}"),
            };
            rule.check()
                .map_err(|(key, message)| error(keyed(&key, &message)))?;
            let additional = rule.additional_bindings.iter();
            for binding in std::iter::once(&rule).chain(additional) {
                let bound = bind(&method, binding, &source, index).map_err(&error)?;
                bindings.push(bound);
            }
        }
        check_conflicts(&bindings)?;
        let bindings = bindings.into_iter().map(Arc::new).collect();
        Ok(HttpApi { pool, bindings })
    }

    /// The binding that takes `verb` at `path` (without the query). Of several templates
    /// that match, the most specific wins (literal segments over `*` over `**`).
    ///
    /// # Errors
    ///
    /// [`Miss`] says whether the path is unknown, wants another verb, or is badly encoded.
    pub fn find(&self, verb: &HttpMethod, path: &str) -> Result<Matched, Miss> {
        let Some(request) = RequestPath::new(path) else {
            return Err(Miss::NotFound);
        };
        let mut best: Option<(&Arc<Binding>, Vec<String>)> = None;
        let mut other_verbs = Vec::new();
        for binding in &self.bindings {
            let Some(values) = binding.template.matches(&request) else {
                continue;
            };
            if binding.verb != *verb {
                if !other_verbs.contains(&binding.verb) {
                    other_verbs.push(binding.verb.clone());
                }
                continue;
            }
            let better = best
                .as_ref()
                .is_none_or(|(current, _)| binding.template.rank() > current.template.rank());
            if better {
                best = Some((binding, values));
            }
        }
        let Some((binding, raw)) = best else {
            return Err(if other_verbs.is_empty() {
                Miss::NotFound
            } else {
                Miss::WrongVerb(other_verbs)
            });
        };
        let values = raw
            .iter()
            .enumerate()
            .map(|(i, value)| percent_decode(value, binding.template.is_multi_segment(i)))
            .collect::<Result<_, _>>()
            .map_err(Miss::BadPath)?;
        Ok(Matched {
            binding: Arc::clone(binding),
            values,
        })
    }

    /// The descriptors the bindings come from.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// Every binding, in the order of the descriptors' services and methods.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().map(|binding| &**binding)
    }
}

fn method_by_name(pool: &DescriptorPool, selector: &str) -> Option<MethodDescriptor> {
    let (service, method) = selector.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn keyed(key: &str, message: &str) -> String {
    if key.is_empty() {
        message.to_owned()
    } else {
        format!("{key}: {message}")
    }
}

/// `POST /package.Service/Method`, the whole request message as the body.
fn grpc_path_binding(method: MethodDescriptor) -> Result<Binding, RuleError> {
    let source = format!("the POST path of {}", method.full_name());
    let method = Method::new(method);
    let template = PathTemplate::parse(method.path()).map_err(|message| RuleError {
        rule: None,
        message: format!("{source}: {message}"),
    })?;
    Ok(Binding {
        source,
        method,
        verb: HttpMethod::POST,
        template,
        variables: Vec::new(),
        body: BodyTarget::Whole,
        response_body: None,
        rule: None,
    })
}

/// One binding of `rule` (the rule itself or one of its additional bindings).
fn bind(
    method: &MethodDescriptor,
    rule: &HttpRule,
    source: &str,
    index: Option<usize>,
) -> Result<Binding, String> {
    let (verb, template) = rule
        .pattern()
        .map_err(|(key, message)| keyed(&key, &message))?;
    let input = method.input();
    let variables = template
        .field_paths()
        .map(|path| path_field(&input, path, &template))
        .collect::<Result<Vec<_>, _>>()?;
    let body = match rule.body.as_str() {
        "" => BodyTarget::None,
        "*" => BodyTarget::Whole,
        name => {
            let field = top_level_field(&input, name, "body")?;
            if variables
                .iter()
                .any(|v| v.as_slice() == std::slice::from_ref(&field))
            {
                let message = format!("body `{name}` is also set by the path {template}");
                return Err(message);
            }
            BodyTarget::Field(field)
        }
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => Some(top_level_field(&method.output(), name, "response_body")?),
    };
    Ok(Binding {
        method: Method::new(method.clone()),
        verb,
        template,
        variables,
        body,
        response_body,
        source: source.to_owned(),
        rule: index,
    })
}

fn top_level_field(
    message: &MessageDescriptor,
    name: &str,
    key: &str,
) -> Result<FieldDescriptor, String> {
    message
        .get_field_by_name(name)
        .ok_or_else(|| format!("{key}: {} has no field `{name}`", message.full_name()))
}

/// The fields a template variable's path names, each a singular message but the last,
/// which holds a value a path segment can spell.
fn path_field(
    input: &MessageDescriptor,
    path: &[String],
    template: &PathTemplate,
) -> Result<Vec<FieldDescriptor>, String> {
    let shown = path.join(".");
    let fields = crate::field_path::resolve(input, path)
        .map_err(|message| format!("variable `{shown}` of {template}: {message}"))?;
    let leaf = fields
        .last()
        .ok_or_else(|| format!("{template} has an empty variable"))?;
    if leaf.is_list() || leaf.is_map() {
        return Err(format!(
            "variable `{shown}` of {template} names a repeated field; a path sets one value"
        ));
    }
    if !crate::field_path::is_text_settable(leaf) {
        return Err(format!(
            "variable `{shown}` of {template} names a message field; a path sets a scalar, an enum or a well-known type written as a string"
        ));
    }
    Ok(fields)
}

/// Two bindings of the same verb and the same path shape are a configuration error.
fn check_conflicts(bindings: &[Binding]) -> Result<(), RuleError> {
    let mut seen: HashMap<(&HttpMethod, Shape<'_>), &Binding> = HashMap::new();
    for binding in bindings {
        let key = (&binding.verb, binding.template.shape());
        if let Some(first) = seen.insert(key, binding) {
            return Err(RuleError {
                rule: binding.rule.or(first.rule),
                message: format!(
                    "{} {} is bound twice: by {} ({}) and by {} ({})",
                    binding.verb,
                    binding.template,
                    first.source,
                    first.template,
                    binding.source,
                    binding.template,
                ),
            });
        }
    }
    Ok(())
}
