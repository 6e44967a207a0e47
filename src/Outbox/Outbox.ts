/**
 * Writing events. Each write happens inside the transaction of the state change it reports,
 * so an event exists exactly when its change committed (the transactional outbox).
 */
import { Data, DateTime, Effect, Option, Schema } from "effect"
import { UploadBatch } from "../Domain/Batch"
import { IngestFile } from "../Domain/File"
import { EventNotRetryable, NotFound } from "../Domain/Errors"
import { EventId, newId, type SessionId } from "../Domain/Ids"
import { fetchPage, type PageRequest } from "../Domain/Page"
import { type EventType, OutboxEvent, type OutboxStatus } from "../Domain/Outbox"
import { redactorConfig } from "../Redaction"
import { OutboxRepo } from "./OutboxRepo"

/** A caller tried to announce something that did not happen (e.g. a file that is not STORED). */
export class OutboxGuardViolation extends Data.TaggedError("OutboxGuardViolation")<{ readonly message: string }> {}

const encodeFile = Schema.encodeSync(IngestFile)
const encodeBatch = Schema.encodeSync(UploadBatch)

export class Outbox extends Effect.Service<Outbox>()("Portal/Outbox", {
  effect: Effect.gen(function*() {
    const repo = yield* OutboxRepo
    const { scrub } = yield* redactorConfig

    const enqueue = (event: {
      readonly eventType: EventType
      readonly idempotencyKey: string
      readonly payload: Record<string, unknown>
      readonly fileId: IngestFile["id"] | null
      readonly batchId: UploadBatch["id"] | null
      readonly occurredAt: DateTime.Utc
    }) =>
      Effect.gen(function*() {
        const now = yield* DateTime.now
        return yield* repo.insert({
          id: yield* newId(EventId),
          event_type: event.eventType,
          event_id: yield* newId(EventId),
          idempotency_key: event.idempotencyKey,
          payload: event.payload,
          status: "PENDING",
          next_attempt_at: now,
          file_id: event.fileId,
          batch_id: event.batchId,
          occurred_at: event.occurredAt,
          created_at: now
        })
      })

    /** `file.stored`, keyed by the file id: a file is announced once however often it is finalized. */
    const fileStored = (file: IngestFile, sessionId: SessionId) =>
      file.status !== "STORED"
        ? Effect.fail(new OutboxGuardViolation({ message: `file ${file.id} is ${file.status}, not STORED` }))
        : enqueue({
          eventType: "file.stored",
          idempotencyKey: file.id,
          payload: { file: encodeFile(file), session_id: sessionId },
          fileId: file.id,
          batchId: null,
          occurredAt: Option.getOrElse(file.stored_at, () => file.updated_at)
        })

    /** `batch.completed`, keyed by the batch id. */
    const batchCompleted = (batch: UploadBatch) =>
      batch.status !== "COMPLETED"
        ? Effect.fail(new OutboxGuardViolation({ message: `batch ${batch.id} is ${batch.status}, not COMPLETED` }))
        : enqueue({
          eventType: "batch.completed",
          idempotencyKey: batch.id,
          payload: { batch: encodeBatch(batch) },
          fileId: null,
          batchId: batch.id,
          occurredAt: batch.updated_at
        })

    /** For operators: events by status, newest first. */
    const list = (filter: PageRequest<EventId> & { readonly status?: OutboxStatus | undefined }) =>
      fetchPage(
        filter.limit,
        (limit) =>
          Effect.map(
            repo.list({ status: filter.status ?? null, beforeId: filter.cursor ?? null, limit }),
            // errors are stored scrubbed; rows written before that are scrubbed on the way out
            (rows) => rows.map((event) => new OutboxEvent({ ...event, last_error: Option.map(event.last_error, scrub) }))
          ),
        (event) => event.id
      )

    /** For operators: a FAILED event goes back to PENDING, due now, with a full set of attempts. */
    const retry = (id: EventId) =>
      Effect.gen(function*() {
        const retried = yield* repo.retryFailed({ id, now: yield* DateTime.now })
        if (Option.isSome(retried)) return retried.value
        const existing = yield* repo.findById(id)
        if (Option.isNone(existing)) return yield* Effect.fail(NotFound.event(id))
        return yield* new EventNotRetryable({
          message: `only FAILED events can be retried; this one is ${existing.value.status}`,
          event_id: id,
          status: existing.value.status
        })
      })

    /** How many events are in each status, for GET /metrics. */
    const countByStatus = repo.countByStatus(undefined)

    return { fileStored, batchCompleted, list, retry, countByStatus } as const
  }),
  dependencies: [OutboxRepo.Default]
}) {}
