//! `yardmaster call` for any gRPC service, grpcurl-like: `list` the services, `describe`
//! one, or call `package.Service/Method` with JSON in and JSON out. Descriptors come from
//! the target's server reflection or from `.proto` files or a descriptor set, and calls
//! go through the gateway's own machinery: a cluster for the target, the transcoding
//! crate's JSON mapping, the proxy's reflection client.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use http::{HeaderMap, HeaderName, HeaderValue, Method as HttpMethod};
use prometheus_client::registry::Registry;
use prost_reflect::{
    Cardinality, DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, ServiceDescriptor,
};
use yardmaster_cluster::{Cluster, ClusterMetrics};
use yardmaster_config::ClusterConfig;
use yardmaster_proxy::own_call::call_whole;
use yardmaster_transcode::{HttpApi, JsonOptions};

/// Replies and reflection answers are at most this large.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// What `yardmaster call` does with a target that is not one of the demo's shapes.
#[derive(Debug)]
pub(crate) enum Request<'a> {
    /// Print the services.
    List,
    /// Print a service, method, message or enum.
    Describe(&'a str),
    /// Call a method (`package.Service/Method`) with these JSON request messages.
    Method(&'a str),
}

/// Where descriptors come from and how the call is made.
#[derive(Debug)]
pub(crate) struct Options<'a> {
    pub(crate) target: SocketAddr,
    pub(crate) proto_files: &'a [PathBuf],
    pub(crate) descriptor_set: Option<&'a PathBuf>,
    pub(crate) data: &'a [String],
    pub(crate) metadata: &'a [String],
    pub(crate) timeout: Duration,
    pub(crate) emit_defaults: bool,
}

/// Runs `request` against the target; writes the result to stdout.
pub(crate) async fn run(request: Request<'_>, options: &Options<'_>) -> anyhow::Result<()> {
    let cluster = target_cluster(options.target)?;
    let pool = descriptors(&cluster, options).await?;
    let mut out = String::new();
    match request {
        Request::List => {
            let mut services: Vec<String> =
                pool.services().map(|s| s.full_name().to_owned()).collect();
            services.sort();
            for service in services {
                writeln!(out, "{service}")?;
            }
        }
        Request::Describe(symbol) => out = describe(&pool, symbol)?,
        Request::Method(path) => out = call(&cluster, pool, path, options).await?,
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// A cluster of one endpoint, the target, as the gateway would build it.
fn target_cluster(target: SocketAddr) -> anyhow::Result<Cluster> {
    let config: ClusterConfig = serde_json::from_value(serde_json::json!({
        "name": "target",
        "protocol": "grpc",
        "endpoints": [target.to_string()],
    }))
    .context("describing the target as a cluster")?;
    let metrics = ClusterMetrics::new(&mut Registry::default());
    Ok(Cluster::new(&config, &metrics))
}

async fn descriptors(cluster: &Cluster, options: &Options<'_>) -> anyhow::Result<DescriptorPool> {
    let pool = match (options.descriptor_set, options.proto_files) {
        (Some(set), _) => yardmaster_config::read_descriptor_set(set).map_err(anyhow::Error::msg)?,
        (None, []) => yardmaster_proxy::fetch_reflected_descriptors(cluster, MAX_MESSAGE_BYTES)
            .await
            .map_err(anyhow::Error::msg)
            .context("asking the target's server reflection (give --proto or --descriptor-set if it has none)")?,
        (None, files) => yardmaster_config::compile_proto_files(files).map_err(anyhow::Error::msg)?,
    };
    Ok(pool)
}

/// Calls `path` with each `--data` as a request message (one for unary and
/// server-streaming methods, any number for client streams; `@-` reads NDJSON from
/// stdin) and returns each reply as pretty JSON.
async fn call(
    cluster: &Cluster,
    pool: DescriptorPool,
    path: &str,
    options: &Options<'_>,
) -> anyhow::Result<String> {
    let grpc_path = format!("/{}", path.trim_start_matches('/'));
    let api = HttpApi::new(pool, &[], true).map_err(|e| anyhow::anyhow!(e.message))?;
    let matched = api.find(&HttpMethod::POST, &grpc_path).map_err(|_| {
        anyhow::anyhow!("the descriptors have no method {path:?} (try `list` and `describe`)")
    })?;
    let method = matched.binding.method();
    let json = JsonOptions {
        emit_defaults: options.emit_defaults,
        ..JsonOptions::default()
    };
    let mut lines = Vec::new();
    for data in options.data {
        if data == "@-" {
            let mut stdin = String::new();
            std::io::stdin()
                .read_to_string(&mut stdin)
                .context("reading stdin")?;
            lines.extend(
                stdin
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned),
            );
        } else {
            lines.push(data.clone());
        }
    }
    if lines.is_empty() {
        lines.push("{}".to_owned());
    }
    if !method.is_client_streaming() && lines.len() > 1 {
        bail!("{path} takes one request message, not {}", lines.len());
    }
    let mut requests = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let request = matched
            .request(None, line.as_bytes(), json)
            .with_context(|| format!("request message {}", i + 1))?;
        requests.push(request);
    }
    let metadata = parse_metadata(options.metadata)?;
    let replies = call_whole(
        cluster,
        method.path(),
        &requests,
        &metadata,
        MAX_MESSAGE_BYTES,
        options.timeout,
    )
    .await
    .map_err(|error| match error.code {
        Some(code) => anyhow::anyhow!("{code:?}: {}", error.message),
        None => anyhow::anyhow!("{}", error.message),
    })?;
    let mut out = String::new();
    for reply in replies {
        let reply = matched
            .binding
            .response_to_json(&reply, json)
            .map_err(anyhow::Error::msg)?;
        let value: serde_json::Value = serde_json::from_slice(&reply)?;
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    }
    Ok(out)
}

/// `key=value` pairs (`-m` options) as metadata.
pub(crate) fn parse_metadata(pairs: &[String]) -> anyhow::Result<HeaderMap> {
    let mut metadata = HeaderMap::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("metadata {pair:?} is not key=value"))?;
        let key = HeaderName::from_bytes(key.trim().to_ascii_lowercase().as_bytes())
            .with_context(|| format!("{key:?} is not a metadata key"))?;
        let value = HeaderValue::from_str(value)
            .with_context(|| format!("{value:?} is not a metadata value"))?;
        metadata.append(key, value);
    }
    Ok(metadata)
}

/// A service, method (`pkg.Service.Method` or `pkg.Service/Method`), message or enum,
/// written as in a `.proto` file.
fn describe(pool: &DescriptorPool, symbol: &str) -> anyhow::Result<String> {
    let symbol = symbol.trim_start_matches('.').replace('/', ".");
    let mut out = String::new();
    if let Some(service) = pool.get_service_by_name(&symbol) {
        write_service(&mut out, &service)?;
    } else if let Some(method) = find_method(pool, &symbol) {
        writeln!(out, "{}", rpc_line(&method))?;
    } else if let Some(message) = pool.get_message_by_name(&symbol) {
        write_message(&mut out, &message)?;
    } else if let Some(enumeration) = pool.get_enum_by_name(&symbol) {
        write_enum(&mut out, &enumeration)?;
    } else {
        bail!("the descriptors have no service, method, message or enum {symbol:?}");
    }
    Ok(out)
}

fn find_method(pool: &DescriptorPool, symbol: &str) -> Option<MethodDescriptor> {
    let (service, method) = symbol.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn rpc_line(method: &MethodDescriptor) -> String {
    let side = |streaming: bool, message: MessageDescriptor| {
        let stream = if streaming { "stream " } else { "" };
        format!("{stream}{}", message.full_name())
    };
    format!(
        "rpc {}({}) returns ({});",
        method.name(),
        side(method.is_client_streaming(), method.input()),
        side(method.is_server_streaming(), method.output())
    )
}

fn write_service(out: &mut String, service: &ServiceDescriptor) -> std::fmt::Result {
    writeln!(out, "service {} {{", service.full_name())?;
    for method in service.methods() {
        writeln!(out, "  {}", rpc_line(&method))?;
    }
    writeln!(out, "}}")
}

fn write_message(out: &mut String, message: &MessageDescriptor) -> std::fmt::Result {
    writeln!(out, "message {} {{", message.full_name())?;
    for field in message.fields() {
        writeln!(
            out,
            "  {} {} = {};",
            field_type(&field),
            field.name(),
            field.number()
        )?;
    }
    writeln!(out, "}}")
}

fn write_enum(out: &mut String, enumeration: &EnumDescriptor) -> std::fmt::Result {
    writeln!(out, "enum {} {{", enumeration.full_name())?;
    for value in enumeration.values() {
        writeln!(out, "  {} = {};", value.name(), value.number())?;
    }
    writeln!(out, "}}")
}

fn field_type(field: &FieldDescriptor) -> String {
    if field.is_map() {
        if let Kind::Message(entry) = field.kind() {
            let key = entry.map_entry_key_field();
            let value = entry.map_entry_value_field();
            return format!(
                "map<{}, {}>",
                kind_name(&key.kind()),
                kind_name(&value.kind())
            );
        }
    }
    let label = match field.cardinality() {
        Cardinality::Repeated => "repeated ",
        Cardinality::Optional
            if field.supports_presence() && field.containing_oneof().is_none() =>
        {
            if matches!(field.kind(), Kind::Message(_)) {
                ""
            } else {
                "optional "
            }
        }
        _ => "",
    };
    format!("{label}{}", kind_name(&field.kind()))
}

fn kind_name(kind: &Kind) -> String {
    let scalar = match kind {
        Kind::Message(message) => return message.full_name().to_owned(),
        Kind::Enum(enumeration) => return enumeration.full_name().to_owned(),
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
    };
    scalar.to_owned()
}
