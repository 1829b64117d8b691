// Test-event templates, as Lambda's console offers them: the events the
// front doors and triggers deliver, in the shapes lambdad's own produce
// (url_event.rs, rest_event.rs, objects/notify.rs, the SQS poller, SNS
// deliveries, schedules), filled in with this server's account and region.
// The values are AWS's documented samples.

const TIME = "2026-01-01T12:00:00Z";
const EPOCH_MS = 1767268800000;
const HTTP_TIME = "01/Jan/2026:12:00:00 +0000";

function httpApi({ account, region }, url) {
  const id = url ? "abcdefghijklmnopqrstuvwxyz012345" : "a1b2c3d4e5";
  const domain = url ? `${id}.lambda-url.${region}.on.aws` : `${id}.execute-api.${region}.amazonaws.com`;
  const event = {
    version: "2.0",
    routeKey: url ? "$default" : "POST /my/path",
    rawPath: "/my/path",
    rawQueryString: "parameter1=value1&parameter1=value2&parameter2=value",
    cookies: ["cookie1=value1", "cookie2=value2"],
    headers: { "content-type": "application/json", header1: "value1", header2: "value1,value2" },
    queryStringParameters: { parameter1: "value1,value2", parameter2: "value" },
    requestContext: {
      accountId: url ? "anonymous" : account,
      apiId: id,
      domainName: domain,
      domainPrefix: id,
      http: { method: "POST", path: "/my/path", protocol: "HTTP/1.1", sourceIp: "192.0.2.1", userAgent: "agent" },
      requestId: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
      routeKey: url ? "$default" : "POST /my/path",
      stage: "$default",
      time: HTTP_TIME,
      timeEpoch: EPOCH_MS,
    },
    body: '{"hello": "world"}',
    isBase64Encoded: false,
  };
  if (!url) event.pathParameters = { parameter1: "value1" };
  return event;
}

function restApi({ account, region }) {
  return {
    resource: "/{proxy+}",
    path: "/hello/world",
    httpMethod: "POST",
    headers: { "Content-Type": "application/json", Host: `1234567890.execute-api.${region}.amazonaws.com`, "User-Agent": "Custom User Agent String" },
    multiValueHeaders: {
      "Content-Type": ["application/json"],
      Host: [`1234567890.execute-api.${region}.amazonaws.com`],
      "User-Agent": ["Custom User Agent String"],
    },
    queryStringParameters: { name: "me" },
    multiValueQueryStringParameters: { name: ["me"] },
    pathParameters: { proxy: "hello/world" },
    stageVariables: null,
    requestContext: {
      accountId: account,
      apiId: "1234567890",
      domainName: `1234567890.execute-api.${region}.amazonaws.com`,
      domainPrefix: "1234567890",
      extendedRequestId: "c6af9ac6-7b61-11e6",
      httpMethod: "POST",
      identity: { sourceIp: "127.0.0.1", userAgent: "Custom User Agent String", accountId: null, caller: null, user: null, userArn: null },
      path: "/prod/hello/world",
      protocol: "HTTP/1.1",
      requestId: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
      requestTime: HTTP_TIME,
      requestTimeEpoch: EPOCH_MS,
      resourceId: "123456",
      resourcePath: "/{proxy+}",
      stage: "prod",
    },
    body: '{"test": "body"}',
    isBase64Encoded: false,
  };
}

const s3Put = ({ region }) => ({
  Records: [{
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: region,
    eventTime: "2026-01-01T12:00:00.000Z",
    eventName: "ObjectCreated:Put",
    userIdentity: { principalId: "EXAMPLE" },
    requestParameters: { sourceIPAddress: "127.0.0.1" },
    responseElements: { "x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH" },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: "testConfigRule",
      bucket: { name: "example-bucket", ownerIdentity: { principalId: "EXAMPLE" }, arn: "arn:aws:s3:::example-bucket" },
      object: { key: "test%2Fkey", size: 1024, eTag: "0123456789abcdef0123456789abcdef", sequencer: "0A1B2C3D4E5F678901" },
    },
  }],
});

const sqs = ({ account, region }) => ({
  Records: [{
    messageId: "19dd0b57-b21e-4ac1-bd88-01bbb068cb78",
    receiptHandle: "MessageReceiptHandle",
    body: "Hello from SQS!",
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: String(EPOCH_MS),
      SenderId: account,
      ApproximateFirstReceiveTimestamp: String(EPOCH_MS + 1),
    },
    messageAttributes: {},
    md5OfBody: "7b270e59b47ff90a553787216d55d91d",
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:${region}:${account}:MyQueue`,
    awsRegion: region,
  }],
});

const sns = ({ account, region }) => ({
  Records: [{
    EventVersion: "1.0",
    EventSubscriptionArn: `arn:aws:sns:${region}:${account}:ExampleTopic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55`,
    EventSource: "aws:sns",
    Sns: {
      SignatureVersion: "1",
      Timestamp: "2026-01-01T12:00:00.000Z",
      Signature: "EXAMPLE",
      SigningCertUrl: "EXAMPLE",
      MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
      Message: "Hello from SNS!",
      MessageAttributes: { Test: { Type: "String", Value: "TestString" } },
      Type: "Notification",
      UnsubscribeUrl: "EXAMPLE",
      TopicArn: `arn:aws:sns:${region}:${account}:ExampleTopic`,
      Subject: "example subject",
    },
  }],
});

const eventBridge = ({ account, region }) => ({
  version: "0",
  id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "Example Event",
  source: "com.example.app",
  account,
  time: TIME,
  region,
  resources: [],
  detail: { key: "value" },
});

const schedule = ({ account, region }) => ({
  version: "0",
  id: "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
  "detail-type": "Scheduled Event",
  source: "aws.events",
  account,
  time: TIME,
  region,
  resources: [`arn:aws:events:${region}:${account}:rule/my-schedule`],
  detail: {},
});

/** The templates: [id (the saved event's default name), label, event(ctx)]. */
export const TEMPLATES = [
  ["apigateway-rest", "API Gateway REST API (proxy)", restApi],
  ["apigateway-http", "API Gateway HTTP API (payload 2.0)", (ctx) => httpApi(ctx, false)],
  ["function-url", "Function URL", (ctx) => httpApi(ctx, true)],
  ["s3-put", "S3 Put", s3Put],
  ["sqs", "SQS", sqs],
  ["sns", "SNS", sns],
  ["eventbridge", "EventBridge event", eventBridge],
  ["schedule", "EventBridge scheduled event", schedule],
];

/** The JSON text of a template, for this server's account and region. */
export function templateText(id, ctx) {
  const t = TEMPLATES.find(([tid]) => tid === id);
  return t ? `${JSON.stringify(t[2](ctx), null, 2)}\n` : null;
}
