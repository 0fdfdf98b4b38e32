//! Commands from Home Assistant: a new target on a zone's climate command
//! topic. Checked here against the same `[targets]` ranges the nodes
//! enforce (so a refusal names the range at once), then written by the
//! bridge's observer and admitted by the node like any other write.

use serde_json::json;

use super::office_view::OfficeView;
use super::topics::Topics;
use crate::config::TargetsSection;
use crate::crdt::Quantity;
use crate::node::check_target;

/// The longest command payload read: a temperature is a handful of
/// characters; anything longer is refused without being parsed.
pub const MAX_COMMAND_LEN: usize = 32;

/// A target write Home Assistant asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetCommand {
    pub zone: String,
    pub value: f32,
}

/// Why a command was not applied. Published on the bridge's error topic.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no zone has the topic name `{0}`")]
    UnknownZone(String),
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{0}")]
    OutOfRange(String),
    #[error("the bridge is not attached to any node")]
    NotAttached,
    #[error("the bridge could not write: {0}")]
    WriteFailed(String),
    #[error("the node refused the write: {0}")]
    Rejected(String),
}

/// Reads a command published on `topic`; `None` when `topic` is not a
/// command topic at all.
pub fn parse(
    topics: &Topics,
    view: &OfficeView,
    targets: &TargetsSection,
    topic: &str,
    payload: &[u8],
) -> Option<Result<TargetCommand, (Option<String>, Refusal)>> {
    let slug = topics.command_zone_slug(topic)?;
    let Some(zone) = view.zone_by_slug(slug) else {
        return Some(Err((None, Refusal::UnknownZone(slug.to_string()))));
    };
    let zone = zone.to_string();
    let text = String::from_utf8_lossy(&payload[..payload.len().min(MAX_COMMAND_LEN)]);
    let text = text.trim();
    let value = match text.parse::<f32>() {
        Ok(v) if v.is_finite() && payload.len() <= MAX_COMMAND_LEN => v,
        _ => return Some(Err((Some(zone), Refusal::NotANumber(text.to_string())))),
    };
    if let Err(reason) = check_target(targets, Quantity::Temperature, value) {
        return Some(Err((Some(zone), Refusal::OutOfRange(reason))));
    }
    Some(Ok(TargetCommand { zone, value }))
}

/// The document published on the error topic.
pub fn error_document(zone: Option<&str>, command: &str, refusal: &Refusal, at_ms: u64) -> String {
    json!({
        "zone": zone,
        "command": command,
        "error": refusal.to_string(),
        "at_ms": at_ms,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::office_view::ZoneView;

    fn setup() -> (Topics, OfficeView, TargetsSection) {
        let mut view = OfficeView::default();
        view.zones.insert("lab".into(), ZoneView::default());
        (
            Topics::new("officemesh", "homeassistant"),
            view,
            TargetsSection::default(),
        )
    }

    #[test]
    fn a_value_in_range_is_a_command() {
        let (t, v, r) = setup();
        let got = parse(&t, &v, &r, "officemesh/zone/lab/target/set", b" 21.5\n");
        assert_eq!(
            got,
            Some(Ok(TargetCommand {
                zone: "lab".into(),
                value: 21.5
            }))
        );
        assert_eq!(parse(&t, &v, &r, "officemesh/zone/lab/target", b"21"), None);
    }

    #[test]
    fn bad_commands_are_refused_with_the_reason() {
        let (t, v, r) = setup();
        let topic = "officemesh/zone/lab/target/set";
        let refusal = |payload: &[u8]| parse(&t, &v, &r, topic, payload).unwrap().unwrap_err().1;
        assert!(matches!(refusal(b"warm"), Refusal::NotANumber(_)));
        assert!(matches!(refusal(b"NaN"), Refusal::NotANumber(_)));
        assert!(matches!(refusal(b""), Refusal::NotANumber(_)));
        assert!(matches!(refusal(&[b'1'; 100]), Refusal::NotANumber(_)));
        let Refusal::OutOfRange(reason) = refusal(b"99") else {
            panic!()
        };
        assert!(reason.contains("min 5, max 30"), "{reason}");
        assert!(matches!(refusal(b"21.3"), Refusal::OutOfRange(_)));
        let other = parse(&t, &v, &r, "officemesh/zone/attic/target/set", b"20");
        assert!(matches!(other, Some(Err((None, Refusal::UnknownZone(_))))));
        let doc: serde_json::Value =
            serde_json::from_str(&error_document(Some("lab"), "99", &refusal(b"99"), 7)).unwrap();
        assert_eq!(doc["zone"], "lab");
    }
}
