//! Message move tasks (StartMessageMoveTask, ListMessageMoveTasks,
//! CancelMessageMoveTask): moving the messages of a dead-letter queue back
//! to the queues they came from (each message's own source, which every
//! message records when it is sent) or to a given destination, at most
//! `MaxNumberOfMessagesPerSecond` a second. A task runs on its own tokio
//! task; each message is received from the dead-letter queue, sent to its
//! destination and taken out of the dead-letter queue in one store
//! transaction (`Store::move_message`), so a crash neither loses nor repeats
//! a message. Tasks are store documents of kind [`MOVE_DOC`] (the newest
//! [`KEPT`] of each source queue, as ListMessageMoveTasks lists), saved at
//! the start, after each batch and at the end; [`Queues::resume_moves`] runs
//! the tasks a stopped server left RUNNING again at start-up.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use lambdad_store::queues::{MessageRecord, ReceiveRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::messages::Meta;
use super::{Queues, QueuesError, json_err, lock, now_ms};
use crate::context::blocking;

/// Most tasks ListMessageMoveTasks returns.
const MAX_LIST: i64 = 10;
/// Highest `MaxNumberOfMessagesPerSecond`.
const MAX_RATE: i64 = 500;
/// Messages received from the dead-letter queue at once.
const BATCH: usize = 10;
/// How long a message being moved stays hidden in the dead-letter queue.
const MOVE_VISIBILITY_MS: i64 = 10_000;
/// Tasks remembered per source queue (the newest; ListMessageMoveTasks'
/// most, as AWS).
const KEPT: usize = 10;
/// The store document kind of a move task (key: `SOURCE_ARN TASK_ID`).
pub const MOVE_DOC: &str = "sqs-move-task";

/// StartMessageMoveTask's input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMoveInput {
    /// The dead-letter queue's ARN.
    pub source_arn: Option<String>,
    /// Where to move to (default: each message's source queue).
    pub destination_arn: Option<String>,
    /// The rate limit, 1–500.
    pub max_number_of_messages_per_second: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Status {
    Running,
    Cancelling,
    Completed,
    Cancelled,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Cancelling => "CANCELLING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
        }
    }
}

/// One task's state (its store document).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Task {
    id: String,
    source_arn: String,
    destination_arn: Option<String>,
    rate: Option<i64>,
    started_ms: i64,
    to_move: u64,
    moved: u64,
    status: Status,
    failure: Option<String>,
}

impl Task {
    fn doc_key(&self) -> String {
        format!("{} {}", self.source_arn, self.id)
    }
}

/// The tasks of every source queue, newest last.
pub(super) type MoveTasks = Mutex<BTreeMap<String, Vec<Arc<Mutex<Task>>>>>;

#[derive(Serialize, Deserialize)]
struct Handle {
    #[serde(rename = "taskId")]
    task_id: String,
    #[serde(rename = "sourceArn")]
    source_arn: String,
}

fn handle_of(t: &Task) -> String {
    let h = Handle {
        task_id: t.id.clone(),
        source_arn: t.source_arn.clone(),
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(&h).unwrap_or_default())
}

fn parse_handle(handle: &str) -> Option<Handle> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(handle)
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

fn source_missing() -> QueuesError {
    QueuesError::ResourceNotFound(
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
}

impl Queues {
    /// The queue ARN `arn` names, in any region of lambdad's account, and its region.
    async fn queue_of_arn(&self, arn: &str) -> Result<Option<(String, String)>, QueuesError> {
        let region = arn.split(':').nth(3).unwrap_or_default().to_owned();
        let Some(name) = self.name_of_arn(arn, &region) else {
            return Ok(None);
        };
        match self.queue(&name).await {
            Ok(q) if q.region == region => Ok(Some((name, region))),
            Ok(_) | Err(QueuesError::NoSuchQueue) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// StartMessageMoveTask: the new task's handle.
    pub async fn start_move(&self, input: StartMoveInput) -> Result<String, QueuesError> {
        let source_arn = input
            .source_arn
            .ok_or(QueuesError::MissingParameter("SourceArn"))?;
        if let Some(r) = input
            .max_number_of_messages_per_second
            .filter(|r| !(1..=MAX_RATE).contains(r))
        {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
            )));
        }
        let (source, _) = self
            .queue_of_arn(&source_arn)
            .await?
            .ok_or_else(source_missing)?;
        if self.dead_letter_sources(&source).await?.is_empty() {
            return Err(QueuesError::InvalidParameterValue(
                "Source queue must be configured as a Dead Letter Queue.".to_owned(),
            ));
        }
        let destination = match &input.destination_arn {
            Some(arn) => Some(self.queue_of_arn(arn).await?.ok_or(
                QueuesError::ResourceNotFound(
                    "The resource that you specified for the DestinationArn parameter doesn't exist.",
                ),
            )?),
            None => None,
        };
        let counts = self.counts(&source).await?;
        let task = Arc::new(Mutex::new(Task {
            id: uuid::Uuid::new_v4().to_string(),
            source_arn: source_arn.clone(),
            destination_arn: input.destination_arn.clone(),
            rate: input.max_number_of_messages_per_second,
            started_ms: now_ms(),
            to_move: counts.visible + counts.in_flight,
            moved: 0,
            status: Status::Running,
            failure: None,
        }));
        let (handle, dropped) = {
            let mut all = lock(&self.shared.moves);
            let list = all.entry(source_arn).or_default();
            if list
                .iter()
                .any(|t| matches!(lock(t).status, Status::Running | Status::Cancelling))
            {
                return Err(QueuesError::InvalidParameterValue(
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time.".to_owned(),
                ));
            }
            list.push(task.clone());
            let dropped = (list.len() > KEPT).then(|| lock(&list.remove(0)).doc_key());
            (handle_of(&lock(&task)), dropped)
        };
        self.save_move(&task).await?;
        if let Some(key) = dropped {
            let store = self.ctx.store.clone();
            blocking(move || store.put_doc(MOVE_DOC, &key, None)).await?;
        }
        self.spawn_move(source, destination, task);
        Ok(handle)
    }

    /// Writes a task's document.
    async fn save_move(&self, task: &Mutex<Task>) -> Result<(), QueuesError> {
        let t = lock(task).clone();
        let json = serde_json::to_string(&t).map_err(json_err)?;
        let store = self.ctx.store.clone();
        blocking(move || store.put_doc(MOVE_DOC, &t.doc_key(), Some(&json))).await?;
        Ok(())
    }

    /// Runs a task on its own tokio task until it ends, then saves its end.
    fn spawn_move(
        &self,
        source: String,
        destination: Option<(String, String)>,
        task: Arc<Mutex<Task>>,
    ) {
        let queues = self.clone();
        tokio::spawn(async move {
            let (status, failure) = match queues.run_move(&source, destination, &task).await {
                Ok(()) if lock(&task).status == Status::Cancelling => (Status::Cancelled, None),
                Ok(()) => (Status::Completed, None),
                Err(e) => {
                    tracing::warn!(queue = %source, error = %e, "A message move task failed.");
                    (Status::Failed, Some(e.shape().query_code.to_owned()))
                }
            };
            {
                let mut t = lock(&task);
                t.status = status;
                t.failure = failure;
            }
            if let Err(e) = queues.save_move(&task).await {
                tracing::warn!(queue = %source, error = %e, "Cannot save a message move task's end.");
            }
        });
    }

    /// At start-up: loads the saved tasks, and runs again those a stopped
    /// server left RUNNING (a CANCELLING one is CANCELLED); how many resumed.
    pub async fn resume_moves(&self) -> Result<usize, QueuesError> {
        let store = self.ctx.store.clone();
        let docs = blocking(move || store.list_docs(MOVE_DOC)).await?;
        let mut tasks: Vec<Task> = docs
            .iter()
            .filter_map(|(_, body)| serde_json::from_str(body).ok())
            .collect();
        tasks.sort_by_key(|t| t.started_ms);
        let mut resumed = 0;
        for t in tasks {
            let task = Arc::new(Mutex::new(t));
            lock(&self.shared.moves)
                .entry(lock(&task).source_arn.clone())
                .or_default()
                .push(task.clone());
            let (status, source_arn, destination_arn) = {
                let t = lock(&task);
                (t.status, t.source_arn.clone(), t.destination_arn.clone())
            };
            match status {
                Status::Running => {}
                Status::Cancelling => {
                    lock(&task).status = Status::Cancelled;
                    self.save_move(&task).await?;
                    continue;
                }
                _ => continue,
            }
            let source = self.queue_of_arn(&source_arn).await?;
            // None: the destination named is gone.
            let destination = match &destination_arn {
                Some(arn) => self.queue_of_arn(arn).await?.map(Some),
                None => Some(None),
            };
            match (source, destination) {
                (Some((source, _)), Some(destination)) => {
                    self.spawn_move(source, destination, task);
                    resumed += 1;
                }
                _ => {
                    {
                        let mut t = lock(&task);
                        t.status = Status::Failed;
                        t.failure = Some(QueuesError::NoSuchQueue.shape().query_code.to_owned());
                    }
                    self.save_move(&task).await?;
                }
            }
        }
        Ok(resumed)
    }

    /// Moves the messages of `source` until it is empty, the task's count
    /// is reached or the task is cancelled.
    async fn run_move(
        &self,
        source: &str,
        destination: Option<(String, String)>,
        task: &Mutex<Task>,
    ) -> Result<(), QueuesError> {
        let (rate, to_move, already, started) = {
            let t = lock(task);
            (t.rate, t.to_move, t.moved, tokio::time::Instant::now())
        };
        let fifo = source.ends_with(".fifo");
        let only_source = self.dead_letter_sources(source).await?;
        // Counted since this run started (the rate's clock); `already`
        // were moved before a restart.
        let mut moved = 0_u64;
        while already + moved < to_move {
            if lock(task).status == Status::Cancelling {
                return Ok(());
            }
            if let Some(rate) = rate {
                // At most `rate` a second since the start.
                let due = started + Duration::from_secs_f64(moved as f64 / rate as f64);
                tokio::time::sleep_until(due).await;
            }
            let max = rate
                .map_or(BATCH, |r| (r as usize).min(BATCH))
                .min((to_move - already - moved) as usize);
            let now = now_ms();
            let req = ReceiveRequest {
                now_ms: now,
                max,
                visibility_ms: MOVE_VISIBILITY_MS,
                receipt: uuid::Uuid::new_v4().simple().to_string(),
                fifo,
                expire_before_ms: i64::MIN,
                redrive: None,
            };
            let store = self.ctx.store.clone();
            let key = source.to_owned();
            let got = blocking(move || store.receive_messages(&key, &req)).await?;
            if got.messages.is_empty() {
                // Messages still hidden (in flight, or being moved when a
                // stopped server left this task) are waited for.
                match got.next_visible_ms {
                    Some(at) => {
                        let wait = (at - now).clamp(10, MOVE_VISIBILITY_MS);
                        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            for m in got.messages {
                let target = match &destination {
                    Some((name, _)) => name.clone(),
                    None => origin_of(&m, &only_source)?,
                };
                if self.move_one(source, &target, m).await? {
                    moved += 1;
                    lock(task).moved += 1;
                }
            }
            self.save_move(task).await?;
        }
        Ok(())
    }

    /// Moves `m` from `source` to `target` in one step; false when its
    /// receipt is no longer the latest (it came back and went elsewhere).
    async fn move_one(
        &self,
        source: &str,
        target: &str,
        m: MessageRecord,
    ) -> Result<bool, QueuesError> {
        let receipt = m.receipt.clone().unwrap_or_default();
        let id = m.id.clone();
        let record = MessageRecord {
            queue: target.to_owned(),
            seq: 0,
            sent_ms: now_ms(),
            visible_ms: now_ms(),
            receive_count: 0,
            first_receive_ms: None,
            receipt: None,
            // The destination has likely seen the deduplication id already
            // (it is the message's own source): a moved message is not
            // deduplicated again.
            dedup: None,
            group: if target.ends_with(".fifo") {
                m.group.clone().or_else(|| Some("moved".to_owned()))
            } else {
                None
            },
            ..m
        };
        let store = self.ctx.store.clone();
        let from = source.to_owned();
        let moved = blocking(move || store.move_message(&from, &id, &receipt, &record))
            .await
            .map_err(|e| match e {
                crate::error::ServiceError::Store(lambdad_store::StoreError::NotFound {
                    ..
                }) => QueuesError::NoSuchQueue,
                e => e.into(),
            })?;
        if moved {
            self.stats(source).deleted.fetch_add(1, Ordering::Relaxed);
            self.stats(target).sent.fetch_add(1, Ordering::Relaxed);
            self.waiter(target).notify_waiters();
        }
        Ok(moved)
    }

    /// ListMessageMoveTasks: the newest `max` (1–10, default 1) tasks of a source queue.
    pub async fn list_moves(
        &self,
        source_arn: Option<&str>,
        max: Option<i64>,
    ) -> Result<Value, QueuesError> {
        let source_arn = source_arn.ok_or(QueuesError::MissingParameter("SourceArn"))?;
        let max = max.unwrap_or(1);
        if !(1..=MAX_LIST).contains(&max) {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {max} for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10."
            )));
        }
        self.queue_of_arn(source_arn)
            .await?
            .ok_or_else(source_missing)?;
        let all = lock(&self.shared.moves);
        let results: Vec<Value> = all
            .get(source_arn)
            .map(|list| {
                list.iter()
                    .rev()
                    .take(max as usize)
                    .map(|t| render(&lock(t)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({ "Results": results }))
    }

    /// CancelMessageMoveTask: how many messages the task had moved.
    pub async fn cancel_move(&self, handle: Option<&str>) -> Result<u64, QueuesError> {
        let handle = handle.ok_or(QueuesError::MissingParameter("TaskHandle"))?;
        let h = parse_handle(handle).ok_or_else(|| {
            QueuesError::InvalidParameterValue("Value for parameter TaskHandle is invalid.".into())
        })?;
        self.queue_of_arn(&h.source_arn)
            .await?
            .ok_or_else(source_missing)?;
        let found = lock(&self.shared.moves)
            .get(&h.source_arn)
            .and_then(|list| list.iter().find(|t| lock(t).id == h.task_id).cloned());
        let task = found.ok_or(QueuesError::ResourceNotFound("Task does not exist."))?;
        let moved = {
            let mut t = lock(&task);
            if t.status != Status::Running {
                return Err(QueuesError::ResourceNotFound("Task does not exist."));
            }
            t.status = Status::Cancelling;
            t.moved
        };
        self.save_move(&task).await?;
        Ok(moved)
    }
}

/// The queue a dead-letter message came from: the source it recorded, or
/// the dead-letter queue's only source queue.
fn origin_of(m: &MessageRecord, sources: &[String]) -> Result<String, QueuesError> {
    let meta: Meta = serde_json::from_str(&m.meta).map_err(json_err)?;
    match (meta.origin, sources) {
        (Some(origin), _) => Ok(origin),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(QueuesError::NoSuchQueue),
    }
}

fn render(t: &Task) -> Value {
    let mut v = json!({
        "SourceArn": t.source_arn,
        "Status": t.status.as_str(),
        "StartedTimestamp": t.started_ms,
        "ApproximateNumberOfMessagesMoved": t.moved,
        "ApproximateNumberOfMessagesToMove": t.to_move,
    });
    if t.status == Status::Running {
        v["TaskHandle"] = json!(handle_of(t));
    }
    if let Some(d) = &t.destination_arn {
        v["DestinationArn"] = json!(d);
    }
    if let Some(r) = t.rate {
        v["MaxNumberOfMessagesPerSecond"] = json!(r);
    }
    if let Some(f) = &t.failure {
        v["FailureReason"] = json!(f);
    }
    v
}
