//! Saved test events: named events per function that the web console
//! (docs/console.md) keeps on the server, as Lambda's console keeps private
//! test events. One store document per function (kind [`KIND`], keyed by the
//! function's name) holds all of them; DeleteFunction forgets them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::{ServiceResult, service_error};

/// The store documents' kind.
pub const KIND: &str = "test-events";

/// At most this many saved events per function (Lambda's console: 10).
pub const MAX_EVENTS: usize = 10;

/// The largest event, in bytes of JSON text (the largest synchronous payload).
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// The longest event name (Lambda's console: 25 characters).
pub const MAX_NAME: usize = 25;

service_error! {
    /// Why a saved test event call fails.
    pub enum TestEventsError {
        /// A name of other characters or length.
        #[error("Event name must be 1 to 25 letters, digits, '.', '-' or '_': {0}")]
        BadName(String) => InvalidParameterValue,
        /// An event that is no JSON text.
        #[error("The event is not valid JSON: {0}")]
        BadEvent(String) => InvalidRequestContent,
        /// An event over [`MAX_EVENT_BYTES`].
        #[error("The event is {0} bytes, over the limit of 6291456 bytes.")]
        TooLarge(usize) => RequestTooLarge,
        /// An eleventh event.
        #[error("A function has at most 10 saved test events.")]
        TooMany => ResourceConflict,
        /// No saved event of that name.
        #[error("Test event not found: {0}")]
        NotFound(String) => ResourceNotFound,
    }
}

/// Shorthand for saved test event results.
pub type TestEventsResult<T> = Result<T, TestEventsError>;

/// A function's saved events, by name (the event's JSON text as saved).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    events: BTreeMap<String, String>,
}

/// The saved test events service.
#[derive(Clone, Debug)]
pub struct TestEvents {
    ctx: Context,
    /// Serializes the read-modify-write of a function's document.
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl TestEvents {
    /// The service over its parts.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            lock: Default::default(),
        }
    }

    /// The function's name, once it is known to exist (AWS's not-found otherwise).
    async fn function(&self, region: &str, function: &str) -> ServiceResult<String> {
        let r = self.ctx.parse_ref(region, function)?;
        self.ctx.load(region, &r.name, None).await?;
        Ok(r.name)
    }

    async fn saved(&self, name: &str) -> ServiceResult<Saved> {
        Ok(self.ctx.load_doc(KIND, name).await?.unwrap_or_default())
    }

    /// Every saved event of the function, by name.
    pub async fn list(
        &self,
        region: &str,
        function: &str,
    ) -> TestEventsResult<BTreeMap<String, String>> {
        let name = self.function(region, function).await?;
        Ok(self.saved(&name).await?.events)
    }

    /// Saves (or replaces) the event `event_name`.
    pub async fn put(
        &self,
        region: &str,
        function: &str,
        event_name: &str,
        event: String,
    ) -> TestEventsResult<()> {
        check_name(event_name)?;
        if event.len() > MAX_EVENT_BYTES {
            return Err(TestEventsError::TooLarge(event.len()));
        }
        serde_json::from_str::<serde_json::Value>(&event)
            .map_err(|e| TestEventsError::BadEvent(e.to_string()))?;
        let name = self.function(region, function).await?;
        let _guard = self.lock.lock().await;
        let mut saved = self.saved(&name).await?;
        if !saved.events.contains_key(event_name) && saved.events.len() >= MAX_EVENTS {
            return Err(TestEventsError::TooMany);
        }
        saved.events.insert(event_name.to_owned(), event);
        Ok(self.ctx.save_doc(KIND, &name, Some(&saved)).await?)
    }

    /// Deletes the event `event_name`.
    pub async fn delete(
        &self,
        region: &str,
        function: &str,
        event_name: &str,
    ) -> TestEventsResult<()> {
        let name = self.function(region, function).await?;
        let _guard = self.lock.lock().await;
        let mut saved = self.saved(&name).await?;
        if saved.events.remove(event_name).is_none() {
            return Err(TestEventsError::NotFound(event_name.to_owned()));
        }
        let doc = (!saved.events.is_empty()).then_some(&saved);
        Ok(self.ctx.save_doc(KIND, &name, doc).await?)
    }
}

/// Forgets a deleted function's saved events (DeleteFunction).
pub(crate) async fn forget(ctx: &Context, function: &str) -> ServiceResult<()> {
    ctx.save_doc::<Saved>(KIND, function, None).await
}

fn check_name(name: &str) -> TestEventsResult<()> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(TestEventsError::BadName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "greet", "my-event_1.v2", &"x".repeat(25)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "with space", "ü", &"x".repeat(26), "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
