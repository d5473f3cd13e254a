//! Who caused an error on the data path.

/// Whose fault an error is; decides logging level and the status family shown to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The downstream client sent something wrong or went away.
    Downstream,
    /// The upstream endpoint failed, reset, or could not be reached.
    Upstream,
    /// The gateway itself refused (no route, denied, over a limit) or failed.
    Gateway,
}

impl Fault {
    /// A short lowercase name, used as a metric label and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Downstream => "downstream",
            Fault::Upstream => "upstream",
            Fault::Gateway => "gateway",
        }
    }
}
