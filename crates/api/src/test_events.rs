//! The web console's saved test events (docs/console.md), the one thing it
//! needs that the Lambda API lacks: lambdad's own `GET
//! /_lambdad/functions/NAME/test-events` (`{"TestEvents": {EVENT: JSON
//! text}}`) and `PUT`/`DELETE /_lambdad/functions/NAME/test-events/EVENT`
//! (the event's JSON text as the body; 204), API requests like any other
//! (signed, authorized as GetFunction and UpdateFunctionConfiguration), over
//! `lambdad_service::test_events`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use lambdad_service::test_events::{MAX_EVENT_BYTES, TestEventsError};

use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::middleware::RequestContext;

/// `GET /_lambdad/functions/NAME/test-events`: `{"TestEvents": {NAME: JSON text}}`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let region = crate::region(&state, &ctx);
    let events = state.services.test_events.list(region, &name).await?;
    Ok(Json(serde_json::json!({ "TestEvents": events })).into_response())
}

/// `PUT /_lambdad/functions/NAME/test-events/EVENT`: saves the body (JSON text) as EVENT.
pub(crate) async fn put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, event)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(TestEventsError::TooLarge(body.len()).into());
    }
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            lambdad_model::Code::InvalidRequestContent,
            "The event is not UTF-8 text.",
        )
    })?;
    let region = crate::region(&state, &ctx);
    state
        .services
        .test_events
        .put(region, &name, &event, text)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /_lambdad/functions/NAME/test-events/EVENT`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, event)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let region = crate::region(&state, &ctx);
    state
        .services
        .test_events
        .delete(region, &name, &event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
