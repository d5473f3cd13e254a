//! Which targets take which message types, and which target answers a call.

use std::collections::HashMap;

use yardmaster_config::{MessageType, MirrorConfig, MirrorTargetConfig};

/// Which targets take which message types, and who answers them.
#[derive(Debug)]
pub(super) struct Selection {
    filters: Vec<MirrorTargetConfig>,
    responders: HashMap<MessageType, usize>,
    pub(super) default_responder: usize,
}

impl Selection {
    pub(super) fn new(config: &MirrorConfig) -> Selection {
        let mut responders = HashMap::new();
        for (i, target) in config.targets.iter().enumerate() {
            for ty in &target.responder_for {
                responders.insert(ty.clone(), i);
            }
        }
        let default_responder = config
            .default_responder
            .as_ref()
            .and_then(|name| config.targets.iter().position(|t| &t.cluster == name))
            .unwrap_or(0);
        Selection {
            filters: config.targets.clone(),
            responders,
            default_responder,
        }
    }

    /// Whether target `i` takes messages of type `ty`.
    pub(super) fn passes(&self, i: usize, ty: &MessageType) -> bool {
        self.filters.get(i).is_some_and(|f| f.passes(ty))
    }

    /// The target whose reply answers a call whose first message has type `ty`: the
    /// type's responder, else the default responder if it takes the type, else the first
    /// target that does; `None` when no target takes it.
    pub(super) fn responder(&self, ty: &MessageType) -> Option<usize> {
        if let Some(&i) = self.responders.get(ty) {
            return Some(i);
        }
        let takes = |i: &usize| self.passes(*i, ty);
        Some(self.default_responder)
            .filter(takes)
            .or_else(|| (0..self.filters.len()).find(takes))
    }
}

/// Responder selection, exactly as `docs/mirroring.md` describes it.
#[cfg(test)]
mod tests {
    use yardmaster_config::{from_str, MessageType, MirrorConfig};

    use super::Selection;

    fn mirror(targets: &str, default_responder: Option<&str>) -> MirrorConfig {
        let mut yaml = String::from(
            "listeners:\n  - name: l\n    listen: 127.0.0.1:0\n    routes:\n      - mirror:\n",
        );
        if let Some(default) = default_responder {
            yaml += &format!("          default_responder: {default}\n");
        }
        yaml += "          message_type: {field: 9}\n          targets:\n";
        yaml += targets;
        yaml += "clusters:\n";
        for (name, port) in [("s1", 1), ("m1", 2), ("m2", 3), ("s2", 4)] {
            yaml += &format!("  - {{name: {name}, endpoints: [127.0.0.1:{port}]}}\n");
        }
        let config = from_str(&yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        config.listeners[0].routes[0].mirror.clone().unwrap()
    }

    const ACCEPTANCE: &str = concat!(
        "            - {cluster: s1, include: [1, 2], responder_for: [2]}\n",
        "            - {cluster: m1, include: [1, 2, 3]}\n",
        "            - {cluster: m2, include: [1]}\n",
        "            - {cluster: s2, include: [2, 3], responder_for: [3]}\n",
    );

    fn n(ty: i64) -> MessageType {
        MessageType::Number(ty)
    }

    #[test]
    fn per_type_responder_wins_then_default_then_first_taker() {
        let selection = Selection::new(&mirror(ACCEPTANCE, None));
        assert_eq!(selection.responder(&n(2)), Some(0));
        assert_eq!(selection.responder(&n(3)), Some(3));
        // Type 1 has no responder: the default (first target, s1) takes it.
        assert_eq!(selection.responder(&n(1)), Some(0));
        // Nobody takes type 4: no responder, the call is refused.
        assert_eq!(selection.responder(&n(4)), None);
        assert!(selection.passes(1, &n(3)) && !selection.passes(2, &n(2)));
    }

    #[test]
    fn default_responder_that_refuses_the_type_yields_to_the_first_taker() {
        let selection = Selection::new(&mirror(ACCEPTANCE, Some("m2")));
        assert_eq!(selection.responder(&n(1)), Some(2));
        // No responders at all: the default m2 answers what it takes, else the first taker.
        let targets = concat!(
            "            - {cluster: s1, include: [5]}\n",
            "            - {cluster: m2, include: [1]}\n",
            "            - {cluster: s2, exclude: [1]}\n",
        );
        let selection = Selection::new(&mirror(targets, Some("m2")));
        assert_eq!(selection.responder(&n(1)), Some(1));
        assert_eq!(selection.responder(&n(7)), Some(2));
        assert_eq!(selection.responder(&n(5)), Some(0));
    }
}
