//! Event notifications from external S3-compatible servers (docs/s3.md):
//! the configuration of named webhooks (`PUT`/`GET`/`DELETE
//! /_lambdad/s3-webhooks/NAME`, signed as the rest of the API) and the
//! endpoint servers post S3 event records to (`POST
//! /_lambdad/s3-webhooks/NAME/events`, checked by the webhook's shared
//! secret instead of a signature; `HEAD` is MinIO's liveness probe). The
//! work is `lambdad_objects::webhooks`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_model::error::Code;
use lambdad_objects::webhooks::{MAX_WEBHOOK_BODY, WebhookInput, presented_token};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Whether a path is a webhook's events endpoint (served without a signature).
pub(crate) fn is_events_path(path: &str) -> bool {
    path.strip_prefix("/_lambdad/s3-webhooks/")
        .and_then(|rest| rest.strip_suffix("/events"))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// `PUT /_lambdad/s3-webhooks/NAME`: creates or replaces a webhook.
pub(crate) async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: WebhookInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Code::InvalidRequestContent,
            format!("Could not parse request body into json: {e}"),
        )
    })?;
    let view = state.services.ctx.objects.put_webhook(&name, input).await?;
    Ok(Json(view).into_response())
}

/// `GET /_lambdad/s3-webhooks/NAME`: a webhook, without its secret.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let view = state.services.ctx.objects.get_webhook(&name).await?;
    Ok(Json(view).into_response())
}

/// `DELETE /_lambdad/s3-webhooks/NAME`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.ctx.objects.delete_webhook(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    presented_token(auth, query.unwrap_or_default())
}

/// `POST /_lambdad/s3-webhooks/NAME/events`: S3 event records from a
/// server; `{"Queued": N}` invocations queued before the answer.
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(ApiError::new(
            Code::RequestTooLarge,
            format!("Request must be smaller than {MAX_WEBHOOK_BODY} bytes for the S3 webhook"),
        ));
    }
    let token = token(&headers, query.as_deref());
    let queued = state
        .services
        .ctx
        .objects
        .accept_webhook(&name, token.as_deref(), &body)
        .await?;
    Ok(Json(serde_json::json!({ "Queued": queued })).into_response())
}

/// `HEAD /_lambdad/s3-webhooks/NAME/events`: MinIO's liveness probe.
pub(crate) async fn probe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = token(&headers, query.as_deref());
    state
        .services
        .ctx
        .objects
        .check_webhook(&name, token.as_deref())
        .await?;
    Ok(StatusCode::OK)
}
