//! Publishing on change: what the broker holds (as far as this bridge
//! published it in the current connection), and the messages that bring
//! it to a new desired set. Nothing is sent on a timer: a topic whose
//! payload did not change is not published again.

use std::collections::BTreeMap;

/// One retained message to send; an empty payload deletes the topic's
/// retained message (and, for a discovery config, the entity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub payload: String,
}

#[derive(Debug, Default)]
pub struct Retained {
    published: BTreeMap<String, String>,
}

impl Retained {
    /// The messages that turn what was published into `desired`: changed
    /// or new topics, and an empty payload for each topic that is gone.
    /// They are taken as published; a message that could not be sent is
    /// handed back with [`Retained::unsent`].
    pub fn changes(&mut self, desired: &BTreeMap<String, String>) -> Vec<Publish> {
        let mut out = Vec::new();
        for (topic, payload) in desired {
            if self.published.get(topic) != Some(payload) {
                out.push(Publish {
                    topic: topic.clone(),
                    payload: payload.clone(),
                });
                self.published.insert(topic.clone(), payload.clone());
            }
        }
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|t| !desired.contains_key(*t))
            .cloned()
            .collect();
        for topic in gone {
            self.published.remove(&topic);
            out.push(Publish {
                topic,
                payload: String::new(),
            });
        }
        out
    }

    /// `topic` was not sent after all: the next [`Retained::changes`]
    /// sends it again.
    pub fn unsent(&mut self, topic: &str) {
        self.published.remove(topic);
    }

    /// Forgets everything for topics `which` selects, so the next
    /// [`Retained::changes`] sends them all: on a new connection (the
    /// broker may have restarted without its retained messages), on Home
    /// Assistant's birth message, or to show an entity's state again after
    /// a refused command.
    pub fn resend(&mut self, which: impl Fn(&str) -> bool) {
        self.published.retain(|topic, _| !which(topic));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(t, p)| (t.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn only_changes_are_sent_and_gone_topics_are_cleared() {
        let mut r = Retained::default();
        assert_eq!(r.changes(&map(&[("a", "1"), ("b", "2")])).len(), 2);
        assert!(r.changes(&map(&[("a", "1"), ("b", "2")])).is_empty());
        let out = r.changes(&map(&[("a", "3")]));
        assert_eq!(
            out,
            vec![
                Publish {
                    topic: "a".into(),
                    payload: "3".into()
                },
                Publish {
                    topic: "b".into(),
                    payload: String::new()
                },
            ]
        );
        r.resend(|t| t == "a");
        assert_eq!(r.changes(&map(&[("a", "3")])).len(), 1);
        r.unsent("a");
        assert_eq!(r.changes(&map(&[("a", "3")])).len(), 1);
    }
}
