/** The upload-session endpoints: create, list, inspect for resuming, complete, abort. */
import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { ByteCount, Metadata, MetadataInput, Sha256HexInput } from "../Domain/Common"
import {
  BatchClosed,
  BatchFull,
  ChecksumMismatch,
  ChunkSizeOutOfBounds,
  FileTooLarge,
  FinalizeInProgress,
  Forbidden,
  IdempotencyConflict,
  InvalidRequest,
  MissingParts,
  NotFound,
  PartRanges,
  QuotaExceeded,
  SessionExpired,
  SessionNotWritable,
  UnsupportedContentType
} from "../Domain/Errors"
import { ContentType, Filename, IngestFile } from "../Domain/File"
import { PAGINATION, pageOf, pageParams } from "../Domain/Page"
import { BatchId, SessionId, UserId } from "../Domain/Ids"
import { SessionStatus, UploadSession } from "../Domain/Session"
import { QuotaReport } from "../Domain/Quota"

const positiveBytes = (description: string) =>
  Schema.Int.pipe(Schema.positive()).annotations({ description, jsonSchema: { type: "integer", minimum: 1, description } })

export class CreateSessionRequest extends Schema.Class<CreateSessionRequest>("CreateSessionRequest")({
  filename: Filename,
  content_type: ContentType,
  total_size_bytes: positiveBytes("Exact size of the whole file"),
  chunk_size_bytes: Schema.optional(
    positiveBytes("Size of every part but the last (default UPLOAD_CHUNK_SIZE_DEFAULT, within the configured bounds)")
  ),
  sha256: Schema.optional(Sha256HexInput).annotations({
    description: "SHA-256 of the whole file; complete fails with 422 if the assembled bytes differ"
  }),
  batch_id: Schema.optional(BatchId),
  metadata: Schema.optional(MetadataInput)
}) {}

export class UploadLimits extends Schema.Class<UploadLimits>("UploadLimits")({
  max_file_size_bytes: ByteCount,
  chunk_size_default_bytes: ByteCount,
  chunk_size_min_bytes: ByteCount,
  chunk_size_max_bytes: ByteCount,
  allowed_content_types: Schema.NullOr(Schema.Array(Schema.String)).annotations({
    description: "Media types a session may declare (`type/*` allowed); null when any is"
  }),
  session_ttl_seconds: Schema.Number.annotations({ description: "Lifetime of a session, refreshed by each received part" })
}, { description: "The limits that apply to the caller's uploads" }) {}

const sessionViewFields = {
  ...UploadSession.fields,
  batch_id: Schema.OptionFromNullOr(BatchId),
  filename: Schema.String,
  content_type: Schema.String,
  metadata: Metadata,
  expired: Schema.Boolean.annotations({
    description: "True once expires_at has passed, even before the sweeper marks the session FAILED"
  }),
  received_parts: PartRanges,
  missing_parts: PartRanges,
  part_url_template: Schema.String.annotations({
    description: "Where each part goes: replace {part_number} with 1..total_parts and PUT the raw bytes"
  }),
  file: IngestFile
}

/** Everything a client needs to resume in one response. */
export class SessionView extends Schema.Class<SessionView>("UploadSessionView")(sessionViewFields, {
  description: "An upload session with everything needed to resume it, and its file"
}) {}

/** The creation response also says which limits apply and what is left of the quota. */
export class CreatedSession extends Schema.Class<CreatedSession>("CreatedUploadSession")({
  ...sessionViewFields,
  limits: UploadLimits,
  quota: QuotaReport
}, { description: "The new session, the limits that apply and what is left of the caller's quota" }) {}

export class SessionSummary extends Schema.Class<SessionSummary>("UploadSessionSummary")({
  ...UploadSession.fields,
  batch_id: Schema.OptionFromNullOr(BatchId),
  filename: Schema.String,
  content_type: Schema.String,
  expired: Schema.Boolean
}, { description: "A session as listed: its counters, without part ranges or file" }) {}

export class SessionPage extends Schema.Class<SessionPage>("UploadSessionPage")(pageOf(SessionSummary), {
  description: "A page of sessions, newest first"
}) {}

export const StatusFilter = Schema.Union(SessionStatus, Schema.Literal("active")).annotations({
  description: "A session status, or `active` for the sessions that can still be resumed (open and not expired)"
})

export class CompleteRequest extends Schema.Class<CompleteRequest>("CompleteSessionRequest")({
  sha256: Schema.optional(Sha256HexInput).annotations({
    description: "Expected SHA-256 of the whole file, if not given at creation"
  })
}) {}

export const IdempotencyHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(
    Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)).annotations({
      jsonSchema: { type: "string", minLength: 1, maxLength: 255 }
    })
  ).annotations({
    description: "Replaying a request with the same key returns the same session (200); another request with it is 409"
  })
})

const sessionPath = HttpApiSchema.param("id", SessionId)

/** 201 with the new session's Location; 200, with the same body, for a replay of the same Idempotency-Key. */
const createdOrReplayed = (operation: Record<string, unknown>) => {
  const responses = operation["responses"] as Record<string, Record<string, unknown>>
  const created = responses["201"] ?? {}
  return {
    ...operation,
    responses: {
      ...responses,
      "200": { ...created, description: "Replay of an earlier request with the same Idempotency-Key" },
      "201": {
        ...created,
        headers: { Location: { description: "URL of the new session", schema: { type: "string" } } }
      }
    }
  }
}

export class SessionsApi extends authenticatedGroup("sessions", {
  title: "Upload sessions",
  description: "A session receives one file in parts: create it, PUT the parts, complete it; resume from its status"
})
  // each endpoint checks the session's (or batch's) owner, or an admin's listing of another user
  .addError(Forbidden)
  .add(
    HttpApiEndpoint.post("create", "/uploads/sessions")
      .setPayload(CreateSessionRequest)
      .setHeaders(IdempotencyHeaders)
      .addSuccess(CreatedSession, { status: 201 })
      .addError(ChunkSizeOutOfBounds)
      .addError(InvalidRequest)
      .addError(NotFound)
      .addError(IdempotencyConflict)
      .addError(BatchFull)
      .addError(BatchClosed)
      .addError(FileTooLarge)
      .addError(UnsupportedContentType)
      .addError(QuotaExceeded)
      .annotateContext(operation("createSession", {
        summary: "Create an upload session and its file",
        description: "Reserves total_size_bytes of the caller's quota until the session ends. total_parts = " +
          "ceil(total_size_bytes / chunk_size_bytes). Answers 201 with Location; a replay with the same " +
          "Idempotency-Key and the same request answers 200 with the original session.",
        transform: createdOrReplayed
      }))
  )
  .add(
    HttpApiEndpoint.get("list", "/uploads/sessions")
      .setUrlParams(Schema.Struct({
        status: Schema.optional(StatusFilter),
        user_id: Schema.optional(UserId).annotations({ description: "Admins only: another user's sessions" }),
        ...pageParams(SessionId)
      }))
      .addSuccess(SessionPage)
      .annotateContext(operation("listSessions", {
        summary: "The caller's sessions, newest first",
        description: `${PAGINATION} ?status=active lists the sessions that can still be resumed: open and not expired.`
      }))
  )
  .add(
    HttpApiEndpoint.get("get")`/uploads/sessions/${sessionPath}`
      .addSuccess(SessionView)
      .addError(NotFound)
      .annotateContext(operation("getSession", {
        summary: "Status for resuming: counters, expiry, received and missing parts",
        description: "What a client needs to resume after a crash: send the parts in missing_parts to " +
          "part_url_template, then complete. An expired session is still shown (expired: true; FAILED once swept)."
      }))
  )
  .add(
    HttpApiEndpoint.post("complete")`/uploads/sessions/${sessionPath}/complete`
      .setPayload(CompleteRequest)
      .addSuccess(SessionView)
      .addError(InvalidRequest)
      .addError(NotFound)
      .addError(MissingParts)
      .addError(FinalizeInProgress)
      .addError(SessionNotWritable)
      .addError(SessionExpired)
      .addError(ChecksumMismatch)
      .annotateContext(operation("completeSession", {
        summary: "Assemble the parts into the stored file, verifying its SHA-256",
        description: "Idempotent: repeating it returns the same stored file. The body is optional. A mismatch " +
          "with the SHA-256 declared at creation makes the file and the session FAILED; a mismatch with one " +
          "given only in this request is 422 and leaves the session completable.",
        transform: (operation) => ({ ...operation, requestBody: { ...(operation["requestBody"] as object), required: false } })
      }))
  )
  .add(
    HttpApiEndpoint.del("abort")`/uploads/sessions/${sessionPath}`
      .addSuccess(SessionView)
      .addError(NotFound)
      .addError(SessionNotWritable)
      .annotateContext(operation("abortSession", {
        summary: "Abort: the session becomes ABORTED, its file FAILED, its parts deleted",
        description: "Releases the quota the session reserved. Aborting twice is harmless; a COMPLETE session is 409."
      }))
  )
{}
