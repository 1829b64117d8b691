//! Authorizers of HTTP APIs (apigatewayv2): Lambda `REQUEST` authorizers
//! and `JWT` authorizers, their Create/Get/Update/Delete calls checked as
//! API Gateway checks them, the routes' authorization members, and the
//! caches the data plane keeps of authorizer answers and issuers' keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::gateway::types::{GatewayResult, HttpApi, Route};
use crate::gateway::{Gateway, bad, integration_function, new_id};

/// The longest `authorizerResultTtlInSeconds`.
pub const MAX_TTL_SECONDS: u32 = 3600;
/// Most cached authorizer answers kept (oldest dropped first).
const MAX_CACHED: usize = 10_000;

/// `jwtConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfiguration {
    /// `audience`: a token's `aud` (or `client_id`) must be one of these.
    #[serde(default)]
    pub audience: Vec<String>,
    /// `issuer`: the token's `iss`, whose JWKS signs tokens.
    pub issuer: Option<String>,
}

/// An authorizer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorizer {
    /// The id.
    pub authorizer_id: String,
    /// The name.
    pub name: String,
    /// `REQUEST` or `JWT`.
    pub authorizer_type: String,
    /// `REQUEST`: the API Gateway invocation URI of the function.
    pub authorizer_uri: Option<String>,
    /// A role to invoke the function with, instead of its resource policy.
    pub authorizer_credentials_arn: Option<String>,
    /// `REQUEST`: `1.0` or `2.0`.
    pub authorizer_payload_format_version: Option<String>,
    /// How long answers are cached (0: not cached).
    pub authorizer_result_ttl_in_seconds: u32,
    /// `REQUEST` 2.0: the function answers `{"isAuthorized": …}`.
    pub enable_simple_responses: bool,
    /// Where the identity comes from (`$request.header.X`, …).
    pub identity_source: Vec<String>,
    /// Kept as given (not used by HTTP APIs).
    pub identity_validation_expression: Option<String>,
    /// `JWT`: issuer and audience.
    pub jwt_configuration: Option<JwtConfiguration>,
}

impl Authorizer {
    /// The wire form.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "authorizerId": self.authorizer_id,
            "authorizerType": self.authorizer_type,
            "identitySource": self.identity_source,
            "name": self.name,
        });
        if self.authorizer_type == "REQUEST" {
            v["authorizerResultTtlInSeconds"] = json!(self.authorizer_result_ttl_in_seconds);
            v["enableSimpleResponses"] = json!(self.enable_simple_responses);
        }
        let opt = [
            ("authorizerUri", &self.authorizer_uri),
            ("authorizerCredentialsArn", &self.authorizer_credentials_arn),
            (
                "authorizerPayloadFormatVersion",
                &self.authorizer_payload_format_version,
            ),
            (
                "identityValidationExpression",
                &self.identity_validation_expression,
            ),
        ];
        for (k, val) in opt {
            if let Some(val) = val {
                v[k] = json!(val);
            }
        }
        if let Some(j) = &self.jwt_configuration {
            v["jwtConfiguration"] = json!(j);
        }
        v
    }

    /// The function and qualifier a `REQUEST` authorizer invokes.
    pub fn function(&self) -> Option<(String, Option<String>)> {
        integration_function(self.authorizer_uri.as_deref()?)
    }
}

/// The body of CreateAuthorizer and UpdateAuthorizer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    /// `name`.
    pub name: Option<String>,
    /// `authorizerType`.
    pub authorizer_type: Option<String>,
    /// `authorizerUri`.
    pub authorizer_uri: Option<String>,
    /// `authorizerCredentialsArn`.
    pub authorizer_credentials_arn: Option<String>,
    /// `authorizerPayloadFormatVersion`.
    pub authorizer_payload_format_version: Option<String>,
    /// `authorizerResultTtlInSeconds`.
    pub authorizer_result_ttl_in_seconds: Option<i64>,
    /// `enableSimpleResponses`.
    pub enable_simple_responses: Option<bool>,
    /// `identitySource`.
    pub identity_source: Option<Vec<String>>,
    /// `identityValidationExpression`.
    pub identity_validation_expression: Option<String>,
    /// `jwtConfiguration`.
    pub jwt_configuration: Option<JwtConfiguration>,
}

/// Whether `s` is an identity source an HTTP API takes.
fn identity_source_ok(s: &str) -> bool {
    [
        "$request.header.",
        "$request.querystring.",
        "$context.",
        "$stageVariables.",
    ]
    .iter()
    .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// Checks an authorizer as API Gateway does (after defaults and updates).
fn check(a: &Authorizer) -> GatewayResult<()> {
    if a.name.is_empty() || a.name.len() > 128 {
        return Err(bad("Name must be between 1 and 128 characters"));
    }
    if a.authorizer_result_ttl_in_seconds > MAX_TTL_SECONDS {
        return Err(bad(
            "AuthorizerResultTtlInSeconds must be between 0 and 3600 seconds",
        ));
    }
    for s in &a.identity_source {
        if !identity_source_ok(s) {
            return Err(bad(format!(
                "Invalid identity source {s}: it must start with $request.header., $request.querystring., $context. or $stageVariables."
            )));
        }
    }
    match a.authorizer_type.as_str() {
        "REQUEST" => {
            let uri = a
                .authorizer_uri
                .as_deref()
                .ok_or_else(|| bad("AuthorizerUri is required for REQUEST authorizers"))?;
            if integration_function(uri).is_none() {
                return Err(bad(format!(
                    "Invalid Authorizer URI: {uri}. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation."
                )));
            }
            match a.authorizer_payload_format_version.as_deref() {
                Some("1.0") if a.enable_simple_responses => Err(bad(
                    "EnableSimpleResponses is only supported for authorizers with payload format version 2.0",
                )),
                Some("1.0" | "2.0") => Ok(()),
                Some(v) => Err(bad(format!(
                    "Invalid authorizer payload format version {v}: it must be 1.0 or 2.0"
                ))),
                None => Err(bad(
                    "AuthorizerPayloadFormatVersion is required for REQUEST authorizers of HTTP APIs",
                )),
            }?;
            if a.authorizer_result_ttl_in_seconds > 0 && a.identity_source.is_empty() {
                return Err(bad(
                    "Identity source is required when authorizer caching is enabled",
                ));
            }
            if a.jwt_configuration.is_some() {
                return Err(bad(
                    "JwtConfiguration is only supported for JWT authorizers",
                ));
            }
            Ok(())
        }
        "JWT" => {
            let jwt = a
                .jwt_configuration
                .as_ref()
                .ok_or_else(|| bad("JwtConfiguration is required for JWT authorizers"))?;
            let issuer = jwt.issuer.as_deref().unwrap_or_default();
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return Err(bad(format!(
                    "Invalid issuer {issuer}. Issuer must have https:// as a prefix"
                )));
            }
            if jwt.audience.is_empty() {
                return Err(bad("JWT authorizers need at least one audience"));
            }
            if a.identity_source.len() != 1 {
                return Err(bad("JWT authorizers take exactly one identity source"));
            }
            if a.authorizer_uri.is_some() || a.authorizer_payload_format_version.is_some() {
                return Err(bad(
                    "AuthorizerUri and AuthorizerPayloadFormatVersion are not supported for JWT authorizers",
                ));
            }
            Ok(())
        }
        t => Err(bad(format!(
            "Unsupported authorizer type {t}: HTTP APIs take REQUEST or JWT"
        ))),
    }
}

/// Checks a route's authorization members against the API's authorizers.
pub(crate) fn check_route_authorization(api: &HttpApi, r: &Route) -> GatewayResult<()> {
    let wanted = match r.authorization_type.as_str() {
        "NONE" | "AWS_IAM" => None,
        "CUSTOM" => Some("REQUEST"),
        "JWT" => Some("JWT"),
        t => {
            return Err(bad(format!(
                "Invalid authorization type {t}: it must be NONE, CUSTOM, JWT or AWS_IAM"
            )));
        }
    };
    match (wanted, &r.authorizer_id) {
        (None, Some(_)) => Err(bad(format!(
            "AuthorizerId is not supported for authorization type {}",
            r.authorization_type
        ))),
        (Some(_), None) => Err(bad(format!(
            "AuthorizerId is required for authorization type {}",
            r.authorization_type
        ))),
        (Some(kind), Some(id)) => {
            let a = api
                .authorizers
                .iter()
                .find(|a| a.authorizer_id == *id)
                .ok_or_else(|| bad(format!("Invalid authorizer id specified: {id}")))?;
            if a.authorizer_type != kind {
                return Err(bad(format!(
                    "Authorization type {} does not match the type {} of authorizer {id}",
                    r.authorization_type, a.authorizer_type
                )));
            }
            if kind == "REQUEST" && !r.authorization_scopes.is_empty() {
                return Err(bad(
                    "Authorization scopes are supported only for JWT authorizers",
                ));
            }
            Ok(())
        }
        (None, None) if !r.authorization_scopes.is_empty() => Err(bad(
            "Authorization scopes are supported only for JWT authorizers",
        )),
        (None, None) => Ok(()),
    }
}

impl Gateway {
    /// CreateAuthorizer.
    pub async fn create_authorizer(
        &self,
        region: &str,
        api_id: &str,
        req: AuthorizerRequest,
    ) -> GatewayResult<Value> {
        let kind = req
            .authorizer_type
            .ok_or_else(|| bad("AuthorizerType is required"))?;
        let identity_source = match (req.identity_source, kind.as_str()) {
            (Some(s), _) => s,
            (None, "JWT") => return Err(bad("IdentitySource is required for JWT authorizers")),
            (None, _) => Vec::new(),
        };
        let ttl = ttl(req.authorizer_result_ttl_in_seconds)?;
        let a = Authorizer {
            authorizer_id: new_id(6),
            name: req.name.ok_or_else(|| bad("Name is required"))?,
            authorizer_type: kind,
            authorizer_uri: req.authorizer_uri,
            authorizer_credentials_arn: req.authorizer_credentials_arn,
            authorizer_payload_format_version: req.authorizer_payload_format_version,
            authorizer_result_ttl_in_seconds: ttl.unwrap_or(0),
            enable_simple_responses: req.enable_simple_responses.unwrap_or(false),
            identity_source,
            identity_validation_expression: req.identity_validation_expression,
            jwt_configuration: req.jwt_configuration,
        };
        check(&a)?;
        let out = a.render();
        self.modify(region, api_id, |api| {
            api.authorizers.push(a.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetAuthorizer.
    pub async fn get_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        api.authorizers
            .iter()
            .find(|a| a.authorizer_id == id)
            .map(Authorizer::render)
            .ok_or_else(|| self.not_found("Authorizer", id))
    }

    /// GetAuthorizers.
    pub async fn get_authorizers(
        &self,
        region: &str,
        api_id: &str,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        crate::gateway::page(
            api.authorizers.iter().map(Authorizer::render).collect(),
            max_results,
            next_token,
        )
    }

    /// UpdateAuthorizer: changes the members given, checked as on create.
    pub async fn update_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
        req: AuthorizerRequest,
    ) -> GatewayResult<Value> {
        let ttl = ttl(req.authorizer_result_ttl_in_seconds)?;
        let out = self
            .modify(region, api_id, |api| {
                let a = api
                    .authorizers
                    .iter_mut()
                    .find(|a| a.authorizer_id == id)
                    .ok_or_else(|| self.not_found("Authorizer", id))?;
                let mut next = a.clone();
                let set = |slot: &mut Option<String>, v: &Option<String>| {
                    if let Some(v) = v {
                        *slot = Some(v.clone());
                    }
                };
                if let Some(n) = &req.name {
                    next.name = n.clone();
                }
                if let Some(t) = &req.authorizer_type {
                    next.authorizer_type = t.clone();
                }
                set(&mut next.authorizer_uri, &req.authorizer_uri);
                set(
                    &mut next.authorizer_credentials_arn,
                    &req.authorizer_credentials_arn,
                );
                set(
                    &mut next.authorizer_payload_format_version,
                    &req.authorizer_payload_format_version,
                );
                set(
                    &mut next.identity_validation_expression,
                    &req.identity_validation_expression,
                );
                if let Some(t) = ttl {
                    next.authorizer_result_ttl_in_seconds = t;
                }
                if let Some(e) = req.enable_simple_responses {
                    next.enable_simple_responses = e;
                }
                if let Some(s) = &req.identity_source {
                    next.identity_source = s.clone();
                }
                if let Some(j) = &req.jwt_configuration {
                    next.jwt_configuration = Some(j.clone());
                }
                check(&next)?;
                *a = next;
                Ok(a.render())
            })
            .await?;
        self.caches.forget_authorizer(api_id, id);
        Ok(out)
    }

    /// DeleteAuthorizer: refused while a route uses it, as on AWS.
    pub async fn delete_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<()> {
        self.modify(region, api_id, |api| {
            if !api.authorizers.iter().any(|a| a.authorizer_id == id) {
                return Err(self.not_found("Authorizer", id));
            }
            if let Some(r) = api
                .routes
                .iter()
                .find(|r| r.authorizer_id.as_deref() == Some(id))
            {
                return Err(crate::gateway::types::GatewayError::Conflict(format!(
                    "Cannot delete authorizer {id}: it is used by route {}",
                    r.route_id
                )));
            }
            api.authorizers.retain(|a| a.authorizer_id != id);
            Ok(())
        })
        .await?;
        self.caches.forget_authorizer(api_id, id);
        Ok(())
    }

    /// The caches of authorizer answers and issuers' keys.
    pub fn caches(&self) -> &AuthCaches {
        &self.caches
    }
}

fn ttl(t: Option<i64>) -> GatewayResult<Option<u32>> {
    match t {
        None => Ok(None),
        Some(t @ 0..=3600) => Ok(Some(t as u32)),
        Some(_) => Err(bad(
            "AuthorizerResultTtlInSeconds must be between 0 and 3600 seconds",
        )),
    }
}

/// A cached answer's key: API, authorizer, identity-source values.
type AnswerKey = (String, String, String);

/// What the data plane caches: authorizer answers by API, authorizer and
/// identity, for the authorizer's TTL; and each issuer's JSON Web Key Set.
#[derive(Debug, Default)]
pub struct AuthCaches {
    answers: Mutex<HashMap<AnswerKey, (Instant, Value)>>,
    jwks: Mutex<HashMap<String, (Instant, Value)>>,
}

impl AuthCaches {
    /// The cached answer for `identity`, if still fresh.
    pub fn answer(&self, api_id: &str, authorizer_id: &str, identity: &str) -> Option<Value> {
        let key = (
            api_id.to_owned(),
            authorizer_id.to_owned(),
            identity.to_owned(),
        );
        let mut map = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` for `ttl`.
    pub fn remember(
        &self,
        api_id: &str,
        authorizer_id: &str,
        identity: &str,
        ttl: Duration,
        answer: Value,
    ) {
        let mut map = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() >= MAX_CACHED {
            map.retain(|_, (until, _)| *until > now);
            if map.len() >= MAX_CACHED
                && let Some(k) = map
                    .iter()
                    .min_by_key(|(_, (u, _))| *u)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        let key = (
            api_id.to_owned(),
            authorizer_id.to_owned(),
            identity.to_owned(),
        );
        map.insert(key, (now + ttl, answer));
    }

    pub(crate) fn forget_authorizer(&self, api_id: &str, authorizer_id: &str) {
        let mut map = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(a, z, _), _| !(a == api_id && z == authorizer_id));
    }

    /// The issuer's key set fetched within `max_age`.
    pub fn jwks(&self, issuer: &str, max_age: Duration) -> Option<Value> {
        let map = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        map.get(issuer)
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, v)| v.clone())
    }

    /// When the issuer's key set was last fetched.
    pub fn jwks_fetched(&self, issuer: &str) -> Option<Instant> {
        let map = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        map.get(issuer).map(|(at, _)| *at)
    }

    /// Keeps the issuer's key set.
    pub fn remember_jwks(&self, issuer: &str, keys: Value) {
        let mut map = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 1000 {
            map.clear();
        }
        map.insert(issuer.to_owned(), (Instant::now(), keys));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Authorizer {
        Authorizer {
            authorizer_id: "a1".into(),
            name: "auth".into(),
            authorizer_type: "REQUEST".into(),
            authorizer_uri: Some(uri.into()),
            authorizer_credentials_arn: None,
            authorizer_payload_format_version: Some("2.0".into()),
            authorizer_result_ttl_in_seconds: 0,
            enable_simple_responses: true,
            identity_source: vec!["$request.header.Authorization".into()],
            identity_validation_expression: None,
            jwt_configuration: None,
        }
    }

    #[test]
    fn authorizers_are_checked_as_api_gateway_checks_them() {
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations";
        assert!(check(&request(uri)).is_ok());
        assert!(check(&request("nope")).is_err());
        let mut a = request(uri);
        a.authorizer_payload_format_version = Some("1.0".into());
        assert!(check(&a).is_err(), "simple responses need 2.0");
        a.enable_simple_responses = false;
        assert!(check(&a).is_ok());
        a.identity_source = vec!["$request.body.x".into()];
        assert!(check(&a).is_err());
        a.identity_source = Vec::new();
        a.authorizer_result_ttl_in_seconds = 5;
        assert!(check(&a).is_err(), "caching needs an identity source");
        let jwt = Authorizer {
            authorizer_type: "JWT".into(),
            authorizer_uri: None,
            authorizer_payload_format_version: None,
            jwt_configuration: Some(JwtConfiguration {
                audience: vec!["app".into()],
                issuer: Some("https://issuer.example".into()),
            }),
            ..request(uri)
        };
        assert!(check(&jwt).is_ok());
        let mut no_aud = jwt.clone();
        no_aud.jwt_configuration = Some(JwtConfiguration {
            audience: Vec::new(),
            issuer: Some("https://issuer.example".into()),
        });
        assert!(check(&no_aud).is_err());
    }

    #[test]
    fn cached_answers_expire() {
        let c = AuthCaches::default();
        c.remember("api", "a", "id", Duration::from_secs(60), json!(1));
        assert_eq!(c.answer("api", "a", "id"), Some(json!(1)));
        assert_eq!(c.answer("api", "a", "other"), None);
        c.remember("api", "a", "old", Duration::ZERO, json!(2));
        assert_eq!(c.answer("api", "a", "old"), None);
        c.forget_authorizer("api", "a");
        assert_eq!(c.answer("api", "a", "id"), None);
    }
}
