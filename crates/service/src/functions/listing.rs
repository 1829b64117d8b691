//! ListFunctions with `FunctionVersion: ALL`: every function's `$LATEST`
//! and its published versions, paged entry by entry.

use lambdad_model::function::FunctionConfiguration;

use super::{Functions, FunctionsResult};
use crate::context::blocking;

impl Functions {
    pub(super) async fn list_all_versions(
        &self,
        marker: Option<String>,
        limit: usize,
    ) -> FunctionsResult<(Vec<FunctionConfiguration>, Option<String>)> {
        // Where the previous page stopped: after `skip` entries of `from`.
        let (from, skip) = match marker.as_deref().and_then(|m| m.rsplit_once(':')) {
            Some((name, n)) => (Some(name.to_owned()), n.parse::<usize>().unwrap_or(0)),
            None => (marker.clone(), usize::MAX),
        };
        let mut page = Vec::new();
        let mut next = None;
        let mut first = true;
        let mut after = from.clone();
        'outer: loop {
            let store = self.ctx.store.clone();
            let (resume, start) = (after.clone(), from.clone());
            let batch = blocking(move || -> Result<_, lambdad_store::StoreError> {
                let mut records = Vec::new();
                // The function the marker stopped inside, again (list_functions starts after it).
                if let (true, Some(name)) = (first && skip != usize::MAX, start.as_deref()) {
                    records.extend(store.get_function(name)?);
                }
                records.extend(store.list_functions(resume.as_deref(), 50)?);
                let mut out = Vec::new();
                for record in records {
                    let versions = store.list_versions(&record.config.function_name)?;
                    out.push((record, versions));
                }
                Ok(out)
            })
            .await?;
            if batch.is_empty() {
                break;
            }
            for (record, versions) in batch {
                let name = record.config.function_name.clone();
                let mut latest = record.config.for_listing();
                latest.function_arn = format!("{}:$LATEST", latest.function_arn);
                let entries = std::iter::once(latest)
                    .chain(versions.into_iter().map(|v| v.config.for_listing()));
                let skip_here = if first && from.as_deref() == Some(&name) && skip != usize::MAX {
                    skip
                } else {
                    0
                };
                for (i, entry) in entries.enumerate().skip(skip_here) {
                    if page.len() == limit {
                        next = Some(format!("{name}:{i}"));
                        break 'outer;
                    }
                    page.push(entry);
                }
                after = Some(name);
            }
            first = false;
        }
        Ok((page, next))
    }
}
