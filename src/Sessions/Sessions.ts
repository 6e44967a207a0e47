/** Upload sessions: creation (with idempotency, quota and batch), inspection, listing, abort. */
import { inTransaction } from "../Sql"
import { DateTime, Duration, Effect, Option } from "effect"
import { CurrentUser } from "../Auth/Authentication"
import { listingOwner, requireOwner, requireReader } from "../Auth/Policy"
import { BatchesRepo } from "../Batches/BatchesRepo"
import { PortalConfig } from "../Config"
import {
  BatchClosed,
  BatchFull,
  ChunkSizeOutOfBounds,
  FileTooLarge,
  Forbidden,
  IdempotencyConflict,
  InvalidRequest,
  NotFound,
  SessionNotWritable,
  UnsupportedContentType
} from "../Domain/Errors"
import { IngestFile } from "../Domain/File"
import { fingerprint } from "../Domain/Fingerprint"
import { pageSize, rowsToFetch, toPage } from "../Domain/Page"
import { type BatchId, FileId, newId, SessionId, type UserId } from "../Domain/Ids"
import { isExpired, missingRanges, OPEN_STATUSES, type PartRange, type SessionStatus, totalParts } from "../Domain/Session"
import { FilesRepo } from "../Files/FilesRepo"
import { Quota } from "../Quota/Quota"
import { Storage } from "../Storage/Storage"
import { addDuration, currentDate } from "../Time"
import { CreatedSession, type CreateSessionRequest, SessionPage, SessionSummary, SessionView, UploadLimits } from "./Api"
import { Assembler } from "./Assembler"
import { SessionLifecycle } from "./Lifecycle"
import { SessionsRepo, type SessionWithFile } from "./SessionsRepo"
import { someOrFail } from "../Found"

/** S3 multipart allows 10,000 parts; refusing more up front keeps that backend possible. */
const MAX_PARTS = 10_000

/** `video/mp4; codecs=…` → `video/mp4` */
const essence = (contentType: string) => (contentType.split(";")[0] ?? "").trim().toLowerCase()

export const contentTypeAllowed = (allowed: ReadonlyArray<string>, contentType: string): boolean => {
  const type = essence(contentType)
  return allowed.some((pattern) =>
    pattern.endsWith("/*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern
  )
}

const partUrlTemplate = (id: SessionId) => `/uploads/sessions/${id}/parts/{part_number}`

export class Sessions extends Effect.Service<Sessions>()("Portal/Sessions", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const repo = yield* SessionsRepo
    const files = yield* FilesRepo
    const batches = yield* BatchesRepo
    const quota = yield* Quota
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const assembler = yield* Assembler
    const { limits } = config

    const uploadLimits = new UploadLimits({
      max_file_size_bytes: limits.maxFileSize,
      chunk_size_default_bytes: limits.chunkSizeDefault,
      chunk_size_min_bytes: limits.chunkSizeMin,
      chunk_size_max_bytes: limits.chunkSizeMax,
      allowed_content_types: Option.getOrNull(limits.allowedContentTypes),
      session_ttl_seconds: Duration.toSeconds(config.sessionTtl)
    })

    const toView = ({ file, session }: SessionWithFile, received: ReadonlyArray<PartRange>, now: Date) =>
      new SessionView({
        ...session,
        batch_id: file.batch_id,
        filename: file.original_filename,
        content_type: file.content_type,
        metadata: file.metadata,
        expired: isExpired(session, now),
        received_parts: received,
        missing_parts: missingRanges(received, session.total_parts),
        part_url_template: partUrlTemplate(session.id),
        file
      })

    const load = (id: SessionId) =>
      repo.findWithFile(id).pipe(someOrFail(() => NotFound.session(id)))

    /** The resumable view of a session, without access checks. */
    const view = (id: SessionId) =>
      Effect.gen(function*() {
        const row = yield* load(id)
        return toView(row, yield* repo.receivedRanges(id), yield* currentDate)
      })

    const get = (id: SessionId) =>
      Effect.gen(function*() {
        const row = yield* load(id)
        yield* requireReader("session", row.session.created_by)
        return toView(row, yield* repo.receivedRanges(id), yield* currentDate)
      })

    /** Checks that need no database: size, type, chunk bounds, metadata. */
    const validate = (request: CreateSessionRequest) =>
      Effect.gen(function*() {
        if (request.total_size_bytes > limits.maxFileSize) {
          return yield* new FileTooLarge({
            message: `total_size_bytes ${request.total_size_bytes} exceeds the maximum of ${limits.maxFileSize}`,
            total_size_bytes: request.total_size_bytes,
            max_file_size_bytes: limits.maxFileSize
          })
        }
        if (Option.isSome(limits.allowedContentTypes) &&
          !contentTypeAllowed(limits.allowedContentTypes.value, request.content_type)) {
          return yield* new UnsupportedContentType({
            message: `content type ${request.content_type} is not allowed`,
            content_type: request.content_type,
            allowed_content_types: limits.allowedContentTypes.value
          })
        }
        const chunkSize = request.chunk_size_bytes ?? limits.chunkSizeDefault
        if (chunkSize < limits.chunkSizeMin || chunkSize > limits.chunkSizeMax) {
          return yield* new ChunkSizeOutOfBounds({
            message: `chunk_size_bytes must be between ${limits.chunkSizeMin} and ${limits.chunkSizeMax}`,
            chunk_size_bytes: chunkSize,
            min_bytes: limits.chunkSizeMin,
            max_bytes: limits.chunkSizeMax
          })
        }
        const parts = totalParts(request.total_size_bytes, chunkSize)
        if (parts > MAX_PARTS) {
          return yield* new InvalidRequest({
            message: `${parts} parts is more than the ${MAX_PARTS} allowed; use a larger chunk_size_bytes`
          })
        }
        return { chunkSize, parts }
      })

    const joinBatch = (batchId: BatchId, ownerId: UserId, now: Date) =>
      Effect.gen(function*() {
        const batch = yield* batches.lock(batchId).pipe(someOrFail(() => NotFound.batch(batchId)))
        if (batch.created_by !== ownerId) {
          return yield* new Forbidden({ message: "this batch belongs to another user" })
        }
        if (batch.status !== "OPEN") {
          return yield* new BatchClosed({
            message: `batch ${batch.id} is ${batch.status}`,
            batch_id: batch.id,
            status: batch.status
          })
        }
        if (Option.isNone(yield* batches.attachFile(batchId, now))) {
          return yield* new BatchFull({
            message: `batch ${batch.id} already has its ${batch.total_files} files`,
            batch_id: batch.id,
            total_files: batch.total_files
          })
        }
      })

    /**
     * Creates the file (UPLOADING) and its session (INIT) in one transaction, after the quota
     * check, under a lock on the owner's row: concurrent creations by one user (including two
     * with the same Idempotency-Key) are decided one after the other.
     */
    const create = (request: CreateSessionRequest, idempotencyKey: Option.Option<string>) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const { chunkSize, parts } = yield* validate(request)
        const requestFingerprint = fingerprint({ ...request, chunk_size_bytes: chunkSize })

        const createOnce = inTransaction(Effect.gen(function*() {
          yield* quota.lockOwner(user.id)
          if (Option.isSome(idempotencyKey)) {
            const earlier = yield* repo.findByIdempotencyKey(user.id, idempotencyKey.value)
            if (Option.isSome(earlier)) {
              if (earlier.value.request_fingerprint !== requestFingerprint) {
                return yield* new IdempotencyConflict({
                  message: "this Idempotency-Key was already used for a different request",
                  idempotency_key: idempotencyKey.value,
                  session_id: earlier.value.id
                })
              }
              return { created: false, id: earlier.value.id }
            }
          }
          yield* quota.ensureRoomFor(user.id, request.total_size_bytes)
          const now = yield* currentDate
          const nowUtc = DateTime.unsafeFromDate(now)
          const batchId = Option.fromNullable(request.batch_id)
          if (Option.isSome(batchId)) yield* joinBatch(batchId.value, user.id, now)
          const file = yield* files.insert(
            new IngestFile({
              id: yield* newId(FileId),
              status: "UPLOADING",
              original_filename: request.filename,
              content_type: request.content_type,
              size_bytes: Option.none(),
              sha256: Option.none(),
              storage_backend: Option.none(),
              storage_bucket: Option.none(),
              storage_key: Option.none(),
              uploaded_by: user.id,
              batch_id: batchId,
              metadata: request.metadata ?? {},
              created_at: nowUtc,
              updated_at: nowUtc,
              stored_at: Option.none()
            })
          )
          const session = yield* repo.insert({
            id: yield* newId(SessionId),
            file_id: file.id,
            status: "INIT",
            total_size_bytes: request.total_size_bytes,
            chunk_size_bytes: chunkSize,
            total_parts: parts,
            received_parts_count: 0,
            received_bytes: 0,
            idempotency_key: idempotencyKey,
            expected_sha256: Option.fromNullable(request.sha256),
            failure_reason: Option.none(),
            expires_at: DateTime.unsafeFromDate(addDuration(now, config.sessionTtl)),
            created_by: user.id,
            created_at: nowUtc,
            updated_at: nowUtc,
            request_fingerprint: requestFingerprint
          })
          return { created: true, id: session.id }
        }))

        // the owner lock makes a key collision unlikely; if one still happens, the retry sees the winner
        const outcome = yield* createOnce.pipe(Effect.catchTag("IdempotencyKeyTaken", () => createOnce)).pipe(
          Effect.catchTag("IdempotencyKeyTaken", (error) => Effect.die(error))
        )
        const session = yield* view(outcome.id)
        return {
          created: outcome.created,
          session: new CreatedSession({ ...session, limits: uploadLimits, quota: yield* quota.report(user) })
        }
      }).pipe(Effect.withSpan("Sessions.create"))

    const list = (filter: {
      readonly status?: SessionStatus | "active" | undefined
      readonly user_id?: UserId | undefined
      readonly cursor?: SessionId | undefined
      readonly limit?: number | undefined
    }) =>
      Effect.gen(function*() {
        const ownerId = yield* listingOwner(filter.user_id)
        const size = pageSize(filter.limit)
        const statuses = filter.status === undefined ? null : filter.status === "active" ? OPEN_STATUSES : [filter.status]
        const now = yield* currentDate
        // active: the sessions that can still be resumed, so not the expired ones awaiting the sweeper
        const unexpiredAt = filter.status === "active" ? now : null
        const rows = yield* repo.list({ ownerId, statuses, unexpiredAt, beforeId: filter.cursor ?? null, limit: rowsToFetch(size) })
        const page = toPage(rows, size, (row) => row.session.id)
        return new SessionPage({
          items: page.items.map(({ file, session }) =>
            new SessionSummary({
              ...session,
              batch_id: file.batch_id,
              filename: file.original_filename,
              content_type: file.content_type,
              expired: isExpired(session, now)
            })
          ),
          next_cursor: page.next_cursor
        })
      })

    /** ABORTED, its file FAILED, its parts deleted, its quota released. Aborting twice is harmless. */
    const abort = (id: SessionId) =>
      Effect.gen(function*() {
        const current = yield* load(id)
        yield* requireOwner("session", current.session.created_by)
        if (current.session.status === "COMPLETE") {
          return yield* new SessionNotWritable({
            message: "a completed session cannot be aborted",
            session_id: id,
            status: current.session.status
          })
        }
        const now = yield* currentDate
        yield* inTransaction(
          lifecycle.terminate({ sessionId: id, status: "ABORTED", reason: "aborted by client", now })
        )
        yield* assembler.forget(id)
        yield* storage.deleteSessionParts(id).pipe(Effect.orDie)
        const after = yield* view(id)
        if (after.status === "COMPLETE") {
          // a complete won the race against this abort
          return yield* new SessionNotWritable({
            message: "the session completed before it could be aborted",
            session_id: id,
            status: after.status
          })
        }
        return after
      }).pipe(Effect.withSpan("Sessions.abort"))

    return { create, get, view, list, abort } as const
  }),
  dependencies: [
    SessionsRepo.Default,
    FilesRepo.Default,
    BatchesRepo.Default,
    Quota.Default,
    SessionLifecycle.Default,
    Assembler.Default
  ]
}) {}
