//! Topic access policies: whether a topic's policy (SNS's default when it
//! has none) lets an API caller manage, subscribe to or publish to it.

use lambdad_model::iam::Decision;
use lambdad_model::policy::{self, Caller, Request};

use super::{Topics, TopicsError, parse_map};

/// The IAM action a topic's policy is asked about for SNS operation
/// `operation` on a topic (None: the operation names no topic).
pub fn topic_action(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "Publish" | "PublishBatch" => "SNS:Publish",
        "Subscribe" => "SNS:Subscribe",
        "GetTopicAttributes" => "SNS:GetTopicAttributes",
        "SetTopicAttributes" => "SNS:SetTopicAttributes",
        "DeleteTopic" => "SNS:DeleteTopic",
        "ListSubscriptionsByTopic" => "SNS:ListSubscriptionsByTopic",
        _ => return None,
    })
}

impl Topics {
    /// Whether the policy of topic `arn` lets `caller` do `action`
    /// (`SNS:Publish`, …), as on AWS: a caller of the topic's account is
    /// refused only by a Deny that applies to it (its identity policy was
    /// checked before); a caller of another account needs an Allow (the
    /// default policy admits the owner's account only). A topic that does
    /// not exist is left to the operation, which answers `NotFound`.
    pub async fn authorize(
        &self,
        arn: Option<&str>,
        caller: &Caller,
        action: &str,
    ) -> Result<(), TopicsError> {
        let Ok(t) = self.topic(arn).await else {
            return Ok(());
        };
        let topic_arn = self.arn(&t.region, &t.name);
        let document = parse_map(&t.attributes)?
            .remove("Policy")
            .unwrap_or_else(|| {
                policy::default_topic_policy(&topic_arn, &self.ctx.account).to_string()
            });
        let context = [
            ("aws:SourceOwner", caller.account.as_str()),
            ("aws:PrincipalAccount", caller.account.as_str()),
            ("aws:PrincipalArn", caller.arn.as_str()),
        ];
        let request = Request {
            principal: caller.principal(),
            action,
            context: &context,
        };
        let why = match policy::decide(&policy::statements_of(&document), &request) {
            Decision::ExplicitDeny => "with an explicit deny in a resource-based policy".to_owned(),
            Decision::ImplicitDeny if caller.account != self.ctx.account => {
                format!("because no resource-based policy allows the {action} action")
            }
            _ => return Ok(()),
        };
        Err(TopicsError::AuthorizationError(format!(
            "User: {} is not authorized to perform: {action} on resource: {topic_arn} {why}",
            caller.arn
        )))
    }
}
