//! Where each field of the YAML text sits: field path (`listeners[0].routes[2].name`) to the
//! line and column of its key and value, and back from a location to a field path.
//!
//! Built from granit-parser events, independently of serde, so it also works for text that
//! does not deserialize; on a syntax error it simply stops at the error.

use std::collections::HashMap;

use granit_parser::{Event, Marker, Parser, Span};

/// A position in the text; line and column both start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Location {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Location {
    fn from_marker(marker: &Marker) -> Location {
        Location {
            line: marker.line(),
            column: marker.col().saturating_add(1),
        }
    }
}

/// One step of a field path: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Segment {
    Key(String),
    Index(usize),
}

/// One YAML node with the key that introduced it (absent for sequence items and the root).
#[derive(Debug)]
struct Node {
    parent: Option<usize>,
    segment: Option<Segment>,
    key: Option<Location>,
    value: Location,
    /// Where the node's text ends; grows when a collection closes.
    end: Location,
}

/// The field paths of one YAML document and their locations.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    /// Nodes in document order; a parent always precedes its children.
    nodes: Vec<Node>,
    /// `(parent, segment) -> node`; the first occurrence wins for duplicate keys.
    children: HashMap<(usize, Segment), usize>,
}

/// Nodes nested deeper than this are not recorded: a configuration never needs them, and the
/// limit keeps hostile input (thousands of nested brackets) cheap.
const MAX_DEPTH: usize = 32;

/// A collection being walked, with what is needed to name its next child.
enum Frame {
    Mapping {
        node: Option<usize>,
        /// Whether the next node is a key (else it is the value of `pending`).
        expects_key: bool,
        /// The last key read; `None` for a key that is itself a collection.
        pending: Option<(Segment, Location)>,
    },
    Sequence {
        node: Option<usize>,
        next: usize,
    },
}

impl SourceMap {
    /// Maps the first document of `text`. Never fails: malformed YAML yields the paths read
    /// before the error.
    pub(crate) fn new(text: &str) -> SourceMap {
        let mut builder = Builder::default();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            if !builder.on_event(&event, &span) {
                break;
            }
        }
        builder.map
    }

    /// Whether the text holds no node at all (empty, or only comments).
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The location of the value at `path`, or of the closest enclosing field that is written
    /// in the text (for a field left at its default).
    pub(crate) fn value_location(&self, path: &str) -> Option<Location> {
        let mut segments = parse_path(path);
        loop {
            if let Some(node) = self.find(&segments) {
                return self.nodes.get(node).map(|n| n.value);
            }
            segments.pop()?;
        }
    }

    /// The field path whose key or value starts at `at`; else the innermost field whose
    /// value spans `at`; `None` for the document as a whole. A key wins over a value
    /// starting at the same place, except with `prefer_value` (errors about a whole mapping
    /// are reported where it starts, which is where its first key is).
    pub(crate) fn path_at(&self, at: Location, prefer_value: bool) -> Option<String> {
        let by_key = || self.nodes.iter().position(|n| n.key == Some(at));
        let by_value = || self.innermost_containing(at);
        let node = if prefer_value {
            by_value().or_else(by_key)
        } else {
            by_key().or_else(by_value)
        }?;
        Some(self.path_of(node)).filter(|path| !path.is_empty())
    }

    fn innermost_containing(&self, at: Location) -> Option<usize> {
        // Nodes are in document order, so the last one whose range holds `at` is the innermost.
        // The end is exclusive: a block collection ends where the next key begins.
        self.nodes
            .iter()
            .rposition(|n| n.value == at || (n.value < at && at < n.end))
    }

    fn find(&self, segments: &[Segment]) -> Option<usize> {
        // Node 0 is the document root.
        let mut node = if self.nodes.is_empty() { None } else { Some(0) };
        for segment in segments {
            node = self.children.get(&(node?, segment.clone())).copied();
        }
        node
    }

    fn path_of(&self, node: usize) -> String {
        let mut segments = Vec::new();
        let mut current = self.nodes.get(node);
        while let Some(n) = current {
            segments.extend(n.segment.as_ref());
            current = n.parent.and_then(|p| self.nodes.get(p));
        }
        let mut path = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Key(key) if path.is_empty() => path.push_str(key),
                Segment::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Segment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }
}

/// Splits `a.b[2].c` into segments. Keys containing `.` or `[` cannot be addressed, which is
/// fine: no configuration key has them.
fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            segments.push(Segment::Key(key.to_owned()));
        }
        for piece in pieces {
            match piece.strip_suffix(']').and_then(|i| i.parse().ok()) {
                Some(index) => segments.push(Segment::Index(index)),
                None => segments.push(Segment::Key(piece.to_owned())),
            }
        }
    }
    segments
}

/// Walks the event stream once, keeping a stack of open collections.
#[derive(Default)]
struct Builder {
    map: SourceMap,
    stack: Vec<Frame>,
    /// Set once the root node is complete: only the first document is mapped.
    done: bool,
}

/// What a node event means for the walk.
enum NodeKind<'a> {
    Scalar(&'a str),
    Mapping,
    Sequence,
}

/// Where a new node goes: its parent, how the parent names it, and the key's location.
type Placement = (Option<usize>, Option<Segment>, Option<Location>);

impl Builder {
    /// Handles one event; returns false when the rest of the stream is of no interest.
    fn on_event(&mut self, event: &Event<'_>, span: &Span) -> bool {
        match event {
            Event::Scalar(text, ..) => self.on_node(NodeKind::Scalar(text), span),
            Event::Alias(_) => self.on_node(NodeKind::Scalar("*"), span),
            Event::MappingStart(..) => self.on_node(NodeKind::Mapping, span),
            Event::SequenceStart(..) => self.on_node(NodeKind::Sequence, span),
            Event::MappingEnd | Event::SequenceEnd => self.on_end(span),
            _ => {}
        }
        !self.done
    }

    fn on_node(&mut self, kind: NodeKind<'_>, span: &Span) {
        let at = Location::from_marker(&span.start);
        let node = match self.placement(&kind, at) {
            Some(Some(placement)) => self.add_node(placement, at, &span.end),
            // A mapping key: remembered by `placement`, and only a collection needs a frame.
            Some(None) if matches!(kind, NodeKind::Scalar(_)) => return,
            _ => None,
        };
        match kind {
            NodeKind::Scalar(_) => self.done = self.stack.is_empty(),
            NodeKind::Mapping => self.stack.push(Frame::Mapping {
                node,
                expects_key: true,
                pending: None,
            }),
            NodeKind::Sequence => self.stack.push(Frame::Sequence { node, next: 0 }),
        }
    }

    /// Decides the role of the next node: `Some(Some(_))` a recorded node, `Some(None)` a
    /// mapping key, `None` a node that is not recorded (too deep, or under such a node).
    fn placement(&mut self, kind: &NodeKind<'_>, at: Location) -> Option<Option<Placement>> {
        let too_deep = self.stack.len() > MAX_DEPTH;
        match self.stack.last_mut() {
            None if self.map.nodes.is_empty() => Some(Some((None, None, None))),
            None => None,
            Some(Frame::Mapping {
                node,
                expects_key,
                pending,
            }) => {
                if *expects_key {
                    *expects_key = false;
                    *pending = match kind {
                        NodeKind::Scalar(text) => Some((Segment::Key((*text).to_owned()), at)),
                        _ => None,
                    };
                    return Some(None);
                }
                *expects_key = true;
                let (segment, key_at) = pending.take()?;
                let parent = (*node).filter(|_| !too_deep)?;
                Some(Some((Some(parent), Some(segment), Some(key_at))))
            }
            Some(Frame::Sequence { node, next }) => {
                let index = *next;
                *next = next.saturating_add(1);
                let parent = (*node).filter(|_| !too_deep)?;
                Some(Some((Some(parent), Some(Segment::Index(index)), None)))
            }
        }
    }

    fn add_node(&mut self, placement: Placement, value: Location, end: &Marker) -> Option<usize> {
        let (parent, segment, key) = placement;
        let id = self.map.nodes.len();
        if let (Some(parent), Some(segment)) = (parent, segment.clone()) {
            self.map.children.entry((parent, segment)).or_insert(id);
        }
        self.map.nodes.push(Node {
            parent,
            segment,
            key,
            value,
            end: Location::from_marker(end),
        });
        Some(id)
    }

    fn on_end(&mut self, span: &Span) {
        let end = Location::from_marker(&span.end);
        let node = match self.stack.pop() {
            Some(Frame::Mapping { node, .. } | Frame::Sequence { node, .. }) => node,
            None => None,
        };
        if let Some(n) = node.and_then(|n| self.map.nodes.get_mut(n)) {
            n.end = n.end.max(end);
        }
        self.done = self.stack.is_empty();
    }
}

#[cfg(test)]
mod tests;
