//! A record's answers held in memory: what the server builds from a form being filled in (to
//! show and hide fields as the participant answers) and what tests write by hand.

use super::eval::Context;
use super::syntax::FieldRef;
use chrono::NaiveDateTime;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Answers keyed by event and field, with ticked checkbox choices and repeating instances.
/// A classic (non-longitudinal) project uses no event names at all.
#[derive(Debug, Clone)]
pub struct MapContext {
    now: NaiveDateTime,
    /// The event being evaluated: where unqualified references (`[age]`) look. Empty in a
    /// classic project.
    current_event: String,
    events: HashMap<String, HashMap<String, Answer>>,
}

#[derive(Debug, Clone, Default)]
struct Answer {
    value: String,
    ticked: BTreeSet<String>,
    /// Answers of other instances of a repeating form or event; instance 1 falls back to the
    /// answer itself.
    instances: BTreeMap<u32, Answer>,
}

impl MapContext {
    /// No answers; `now` is what `'today'` and `'now'` mean.
    pub fn new(now: NaiveDateTime) -> Self {
        MapContext { now, current_event: String::new(), events: HashMap::new() }
    }

    /// Evaluates in `event`: unqualified references and [`MapContext::set`] use it.
    pub fn at_event(mut self, event: &str) -> Self {
        self.current_event = event.to_owned();
        self
    }

    /// Stores the answer `r` reads. For a checkbox choice (`r.code`), "1" ticks it and anything
    /// else unticks it.
    pub fn put(&mut self, r: &FieldRef, value: impl Into<String>) -> &mut Self {
        let event = r.event.clone().unwrap_or_else(|| self.current_event.clone());
        let mut answer = self.events.entry(event).or_default().entry(r.field.clone()).or_default();
        if let Some(instance) = r.instance
            && instance != 1
        {
            answer = answer.instances.entry(instance).or_default();
        }
        let value = value.into();
        match &r.code {
            Some(code) if value.trim() == "1" => {
                answer.ticked.insert(code.clone());
            }
            Some(code) => {
                answer.ticked.remove(code);
            }
            None => answer.value = value,
        }
        self
    }

    /// Answers `field` in the current event.
    pub fn set(&mut self, field: &str, value: impl Into<String>) -> &mut Self {
        self.put(&FieldRef::new(field), value)
    }

    /// Ticks choice `code` of checkbox `field` in the current event.
    pub fn tick(&mut self, field: &str, code: &str) -> &mut Self {
        self.put(&FieldRef::new(field).choice(code), "1")
    }

    /// [`MapContext::set`], by value, for building a context in one expression.
    pub fn with(mut self, field: &str, value: impl Into<String>) -> Self {
        self.set(field, value);
        self
    }

    /// [`MapContext::tick`], by value.
    pub fn with_ticked(mut self, field: &str, code: &str) -> Self {
        self.tick(field, code);
        self
    }
}

impl Context for MapContext {
    fn value(&self, r: &FieldRef) -> Option<Cow<'_, str>> {
        let event = r.event.as_deref().unwrap_or(&self.current_event);
        let mut answer = self.events.get(event)?.get(&r.field)?;
        if let Some(instance) = r.instance
            && instance != 1
        {
            answer = answer.instances.get(&instance)?;
        }
        Some(match &r.code {
            Some(code) => Cow::Borrowed(if answer.ticked.contains(code) { "1" } else { "0" }),
            None => Cow::Borrowed(answer.value.as_str()),
        })
    }

    fn now(&self) -> NaiveDateTime {
        self.now
    }
}
