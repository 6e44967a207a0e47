/** Upload sessions: creation (with idempotency, quota and batch), inspection, listing, abort. */
import { DateTime, Duration, Effect, Option } from "effect"
import { listingOwner, requireOwner, requireReader } from "../Auth/Policy"
import { Batches } from "../Batches/Batches"
import { PortalConfig } from "../Config"
import { CurrentUser } from "../Domain/CurrentUser"
import { IdempotencyConflict, NotFound, SessionNotWritable } from "../Domain/Errors"
import { IngestFile } from "../Domain/File"
import { fingerprint } from "../Domain/Fingerprint"
import { FileId, newId, SessionId, type UserId } from "../Domain/Ids"
import { fetchPage, type PageRequest } from "../Domain/Page"
import { FailureReason, OPEN_STATUSES, type PartRange, type SessionStatus } from "../Domain/Session"
import { Files } from "../Files/Files"
import { Metrics } from "../Operations/Metrics"
import type { QuotaReport } from "../Domain/Quota"
import { Quota } from "../Quota/Quota"
import { someOrFail } from "../Repo"
import { inTransaction } from "../Sql"
import { Storage } from "../Storage/Storage"
import { CreatedSession, type CreateSessionRequest, SessionPage, UploadLimits } from "./Api"
import { SessionLifecycle } from "./Lifecycle"
import { effectiveLimits, planSession } from "./Rules"
import { SessionsRepo, type SessionWithFile } from "./SessionsRepo"
import { toSummary, toView } from "./View"

export class Sessions extends Effect.Service<Sessions>()("Portal/Sessions", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const repo = yield* SessionsRepo
    const files = yield* Files
    const batches = yield* Batches
    const quota = yield* Quota
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const metrics = yield* Metrics
    /** The configured upload limits, narrowed to what the storage takes. */
    const limits = effectiveLimits(config.limits, storage.limits)

    const uploadLimits = new UploadLimits({
      max_file_size_bytes: limits.maxFileSize,
      chunk_size_default_bytes: limits.chunkSizeDefault,
      chunk_size_min_bytes: limits.chunkSizeMin,
      chunk_size_max_bytes: limits.chunkSizeMax,
      allowed_content_types: Option.getOrNull(limits.allowedContentTypes),
      session_ttl_seconds: Duration.toSeconds(config.sessionTtl)
    })

    const load = (id: SessionId) => repo.findWithFile(id).pipe(someOrFail(() => NotFound.session(id)))

    const receivedRanges = (id: SessionId) =>
      Effect.map(repo.receivedRanges(id), (rows) => rows.map(({ first, last }): PartRange => [first, last]))

    /** The resumable view of a session, without access checks. */
    const view = (id: SessionId) =>
      Effect.gen(function*() {
        const row = yield* load(id)
        return toView(row, yield* receivedRanges(id), yield* DateTime.now)
      })

    const get = (id: SessionId) =>
      Effect.gen(function*() {
        const row = yield* load(id)
        yield* requireReader("session", row.session.created_by)
        return toView(row, yield* receivedRanges(id), yield* DateTime.now)
      })

    /**
     * Creates the file (UPLOADING) and its session (INIT) in one transaction, after the quota
     * check, under a lock on the owner's quota: concurrent creations by one user (including two
     * with the same Idempotency-Key) are decided one after the other.
     */
    const create = (request: CreateSessionRequest, idempotencyKey: Option.Option<string>) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const { chunkSize, parts } = yield* planSession(config.limits, storage.limits, request)
        const requestFingerprint = fingerprint({ ...request, chunk_size_bytes: chunkSize })

        type Outcome =
          | { readonly created: false; readonly id: SessionId }
          | { readonly created: true; readonly row: SessionWithFile; readonly quota: QuotaReport }

        const createOnce = inTransaction(Effect.gen(function*() {
          const current = yield* quota.lock(user.id)
          if (Option.isSome(idempotencyKey)) {
            const earlier = yield* repo.findByIdempotencyKey({ ownerId: user.id, key: idempotencyKey.value })
            if (Option.isSome(earlier)) {
              if (earlier.value.request_fingerprint !== requestFingerprint) {
                return yield* new IdempotencyConflict({
                  message: "this Idempotency-Key was already used for a different request",
                  idempotency_key: idempotencyKey.value,
                  session_id: earlier.value.id
                })
              }
              return { created: false, id: earlier.value.id } satisfies Outcome
            }
          }
          yield* quota.ensureRoom(current, request.total_size_bytes)
          const now = yield* DateTime.now
          const batchId = Option.fromNullable(request.batch_id)
          if (Option.isSome(batchId)) yield* batches.join(batchId.value, now)
          const file = yield* files.create(
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
              created_at: now,
              updated_at: now,
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
            expires_at: DateTime.addDuration(now, config.sessionTtl),
            created_by: user.id,
            created_at: now,
            updated_at: now,
            request_fingerprint: requestFingerprint
          })
          // the quota is locked: what it says now, plus this reservation, is exact
          const after = current.reserving(request.total_size_bytes)
          return { created: true, row: { session, file }, quota: after } satisfies Outcome
        }))

        // the quota lock makes a key collision unlikely; if one still happens, the retry sees the winner
        const outcome: Outcome = yield* createOnce.pipe(
          Effect.catchTag("IdempotencyKeyTaken", () => createOnce),
          Effect.catchTag("IdempotencyKeyTaken", (error) => Effect.die(error))
        )
        if (outcome.created) yield* metrics.sessionCreated
        // a new session has no parts yet: shown from the rows just written, without reading them back
        const session = outcome.created ? toView(outcome.row, [], yield* DateTime.now) : yield* view(outcome.id)
        return {
          created: outcome.created,
          session: new CreatedSession({
            ...session,
            limits: uploadLimits,
            quota: outcome.created ? outcome.quota : yield* quota.report(user.id)
          })
        }
      }).pipe(Effect.withSpan("Sessions.create"))

    const list = (filter: PageRequest<SessionId> & {
      readonly status?: SessionStatus | "active" | undefined
      readonly user_id?: UserId | undefined
    }) =>
      Effect.gen(function*() {
        const ownerId = yield* listingOwner(filter.user_id)
        const active = filter.status === "active"
        const statuses = filter.status === undefined ? null : active ? OPEN_STATUSES : [filter.status]
        const now = yield* DateTime.now
        // active: the sessions that can still be resumed, so not the expired ones awaiting the sweeper
        const unexpiredAt = active ? now : null
        const page = yield* fetchPage(
          filter.limit,
          (limit) => repo.list({ ownerId, statuses, unexpiredAt, beforeId: filter.cursor ?? null, limit }),
          (row) => row.session.id
        )
        return new SessionPage({ items: page.items.map((row) => toSummary(row, now)), next_cursor: page.next_cursor })
      })

    /** Gives up what the store holds for these sessions, which have ended. */
    const discardUploads = (ids: ReadonlyArray<SessionId>) =>
      Effect.gen(function*() {
        for (const id of ids) yield* storage.release(id)
        const locations = ids.length === 0 ? [] : yield* repo.uploadLocations(ids)
        yield* Effect.forEach(locations, ({ file_id, id, storage_upload_ref }) =>
          storage_upload_ref === null
            ? Effect.void
            : storage.discardUpload({ sessionId: id, fileId: file_id, ref: storage_upload_ref }).pipe(Effect.orDie), { discard: true })
      })

    /** ABORTED, its file FAILED, its parts deleted, its quota released. Aborting twice is harmless. */
    const abort = (id: SessionId) =>
      Effect.gen(function*() {
        const current = yield* load(id)
        yield* requireOwner("session", current.session.created_by)
        if (current.session.status === "COMPLETE") {
          return yield* SessionNotWritable.of(current.session, "a completed session cannot be aborted")
        }
        const now = yield* DateTime.now
        const aborted = yield* inTransaction(
          lifecycle.terminate({ sessionId: id, status: "ABORTED", reason: FailureReason.aborted, now })
        )
        if (Option.isSome(aborted)) yield* metrics.sessionAborted
        yield* discardUploads([id])
        const after = yield* view(id)
        if (after.status === "COMPLETE") {
          // a complete won the race against this abort
          return yield* SessionNotWritable.of(after, "the session completed before it could be aborted")
        }
        return after
      }).pipe(Effect.withSpan("Sessions.abort"))

    return { create, get, view, list, abort, receivedRanges, discardUploads, limits } as const
  }),
  dependencies: [
    SessionsRepo.Default,
    Files.Default,
    Batches.Default,
    Quota.Default,
    SessionLifecycle.Default,
    Metrics.Default
  ]
}) {}
