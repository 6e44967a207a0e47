/**
 * One story told in examples for the OpenAPI document: a user uploads a 20 MiB scan in parts of
 * 8 MiB. Each value is typed as its schema's wire form, so the compiler keeps it in step with
 * the contract, and `redocly lint` checks it against the document (redocly.yaml).
 */
import type {
  CreatedUser,
  CreateUserRequest,
  IssueTokenRequest,
  OutboxPage,
  TokenPage,
  UpdateUserRequest,
  UserPage
} from "../Admin/Api"
import type { BatchFilesPage, BatchPage, CreateBatchRequest } from "../Batches/Api"
import type { UploadBatch } from "../Domain/Batch"
import type { MissingParts, PartConflict, QuotaExceeded, RangeNotSatisfiable } from "../Domain/Errors"
import type { IngestFile } from "../Domain/File"
import type { OutboxEvent } from "../Domain/Outbox"
import type { QuotaReport } from "../Domain/Quota"
import type { SweepReport } from "../Domain/Sweep"
import type { ApiToken, IssuedApiToken, User } from "../Domain/User"
import type { HealthReport } from "../Health/Api"
import type { PartReceipt } from "../Parts/Api"
import type {
  CompleteRequest,
  CreatedSession,
  CreateSessionRequest,
  SessionPage,
  SessionSummary,
  SessionView
} from "../Sessions/Api"

/** What an operation's examples are: its request body, and response bodies by status. */
export interface OperationExamples {
  readonly request?: unknown
  readonly responses: Readonly<Record<string, unknown>>
}

const USER = "01939d4e-2f10-7c4a-9b1e-3f2a8c5d6e01"
const TOKEN = "01939d4e-2f11-7a0b-8c9d-0e1f2a3b4c5d"
const BATCH = "01939d4e-4b00-7f21-9a8b-7c6d5e4f3a2b"
const SESSION = "01939d4e-5a22-7d3b-8c4f-1a2b3c4d5e6f"
const FILE = "01939d4e-5a23-7e10-a1b2-c3d4e5f60718"
const EVENT = "01939d4f-0c01-7b2c-9d3e-4f5a6b7c8d9e"
const SHA256 = "48974ac42091bb5c591e0ac22f3576b6a65d70c5992f765202d85ef619e70f61"
const PART_2_SHA256 = "474d3c9a0b52b768b7c54affb2c386a921a6b33007109c70be7b536eba176bb4"
const CREATED_AT = "2026-12-02T09:30:00.000Z"
const STORED_AT = "2026-12-02T09:31:12.500Z"
const MiB = 1024 * 1024

const user: typeof User.Encoded = {
  id: USER, name: "scanner-3", is_admin: false, quota_bytes: 100 * 1024 * MiB, created_at: "2026-11-30T08:00:00.000Z"
}

const token: typeof ApiToken.Encoded = {
  id: TOKEN, user_id: USER, name: "laptop", created_at: "2026-11-30T08:00:00.000Z", revoked_at: null
}

const uploading: typeof IngestFile.Encoded = {
  id: FILE, status: "UPLOADING", original_filename: "scan-0042.tiff", content_type: "image/tiff",
  size_bytes: null, sha256: null, storage_backend: null, storage_bucket: null, storage_key: null,
  uploaded_by: USER, batch_id: BATCH, metadata: { scanner: "north-3" },
  created_at: CREATED_AT, updated_at: CREATED_AT, stored_at: null
}

const stored: typeof IngestFile.Encoded = {
  ...uploading, status: "STORED", size_bytes: 20 * MiB, sha256: SHA256, storage_backend: "local",
  storage_key: `files/18/${FILE}.5f0c1a2b3c4d`, updated_at: STORED_AT, stored_at: STORED_AT
}

const summary: typeof SessionSummary.Encoded = {
  id: SESSION, file_id: FILE, status: "IN_PROGRESS", total_size_bytes: 20 * MiB, chunk_size_bytes: 8 * MiB,
  total_parts: 3, received_parts_count: 1, received_bytes: 8 * MiB, idempotency_key: "scan-0042",
  expected_sha256: SHA256, failure_reason: null, expires_at: "2026-12-02T10:30:41.000Z", created_by: USER,
  created_at: CREATED_AT, updated_at: "2026-12-02T09:30:41.000Z", batch_id: BATCH,
  filename: "scan-0042.tiff", content_type: "image/tiff", expired: false
}

const { expired: _, ...sessionFields } = summary

const inProgress: typeof SessionView.Encoded = {
  ...sessionFields, metadata: { scanner: "north-3" }, expired: false,
  received_parts: [[2, 2]], missing_parts: [[1, 1], [3, 3]],
  part_url_template: `/uploads/sessions/${SESSION}/parts/{part_number}`, file: uploading
}

const created: typeof CreatedSession.Encoded = {
  ...inProgress, status: "INIT", received_parts_count: 0, received_bytes: 0, updated_at: CREATED_AT,
  expires_at: "2026-12-02T10:30:00.000Z", received_parts: [], missing_parts: [[1, 3]],
  limits: {
    max_file_size_bytes: 5 * 1024 * MiB, chunk_size_default_bytes: 8 * MiB, chunk_size_min_bytes: 5 * MiB,
    chunk_size_max_bytes: 64 * MiB, allowed_content_types: null, session_ttl_seconds: 3600
  },
  quota: { limit_bytes: 100 * 1024 * MiB, used_bytes: 512 * MiB, reserved_bytes: 20 * MiB, remaining_bytes: 101868 * MiB }
}

const aborted: typeof SessionView.Encoded = {
  ...inProgress, status: "ABORTED", failure_reason: "aborted by client", file: { ...uploading, status: "FAILED" }
}

const complete: typeof SessionView.Encoded = {
  ...inProgress, status: "COMPLETE", received_parts_count: 3, received_bytes: 20 * MiB, updated_at: STORED_AT,
  received_parts: [[1, 3]], missing_parts: [], file: stored
}

const batch: typeof UploadBatch.Encoded = {
  id: BATCH, status: "OPEN", name: "Scans of 2 December", metadata: {}, total_files: 3, file_count: 1,
  stored_count: 0, failed_count: 0, created_by: USER, created_at: "2026-12-02T09:29:00.000Z",
  updated_at: CREATED_AT, completed_at: null
}

const newBatch: typeof UploadBatch.Encoded = { ...batch, file_count: 0, updated_at: batch.created_at }

const event: typeof OutboxEvent.Encoded = {
  id: EVENT, event_type: "file.stored", event_id: "01939d4f-0c02-7c3d-8e4f-5a6b7c8d9e0f", idempotency_key: FILE,
  payload: { session_id: SESSION, file: stored }, status: "FAILED", next_attempt_at: "2026-12-02T11:02:00.000Z",
  attempt_count: 10, last_error: "HTTP 502 from the webhook", lease_expires_at: null, file_id: FILE,
  batch_id: BATCH, occurred_at: STORED_AT, created_at: STORED_AT, delivered_at: null
}

const createSession: typeof CreateSessionRequest.Encoded = {
  filename: "scan-0042.tiff", content_type: "image/tiff", total_size_bytes: 20 * MiB, chunk_size_bytes: 8 * MiB,
  sha256: SHA256, batch_id: BATCH, metadata: { scanner: "north-3" }
}

const quotaExceeded: typeof QuotaExceeded.Encoded = {
  _tag: "QuotaExceeded", message: `this upload needs ${20 * MiB} bytes but only ${4 * MiB} of the quota remain`,
  limit_bytes: 100 * 1024 * MiB, used_bytes: 102380 * MiB, reserved_bytes: 16 * MiB, remaining_bytes: 4 * MiB,
  requested_bytes: 20 * MiB
}

const receipt: typeof PartReceipt.Encoded = {
  session_id: SESSION, part_number: 2, size_bytes: 8 * MiB, sha256: PART_2_SHA256, already_received: false,
  session_status: "IN_PROGRESS", received_parts_count: 1, received_bytes: 8 * MiB, total_parts: 3,
  expires_at: "2026-12-02T10:30:41.000Z"
}

const conflict: typeof PartConflict.Encoded = {
  _tag: "PartConflict", part_number: 2, stored_sha256: PART_2_SHA256,
  received_sha256: "bd23a605cbf4530fd2ae841a98ec9b69aa9a80fd28d98dc0bfa2f47a20cab74e",
  message: "part 2 was already received with other bytes"
}

const missing: typeof MissingParts.Encoded = {
  _tag: "MissingParts", message: "2 of 3 parts have not been received", session_id: SESSION,
  missing_parts: [[1, 1], [3, 3]], missing_count: 2
}

const outsideTheFile: typeof RangeNotSatisfiable.Encoded = {
  _tag: "RangeNotSatisfiable", message: `the range bytes=${30 * MiB}- lies outside the file's ${20 * MiB} bytes`,
  size_bytes: 20 * MiB
}

const health: typeof HealthReport.Encoded = {
  status: "ok", checks: { database: { status: "ok", latency_ms: 2 }, storage: { status: "ok", latency_ms: 1 } }
}

const quota: typeof QuotaReport.Encoded = created.quota
const sweep: typeof SweepReport.Encoded = { expired_sessions: 2, staging_removed: 2, objects_removed: 0 }
const sessions: typeof SessionPage.Encoded = { items: [summary], next_cursor: null }
const batches: typeof BatchPage.Encoded = { items: [batch], next_cursor: null }
const batchFiles: typeof BatchFilesPage.Encoded = { items: [uploading], next_cursor: null }
const outbox: typeof OutboxPage.Encoded = { items: [event], next_cursor: null }
const users: typeof UserPage.Encoded = { items: [user], next_cursor: null }
const tokens: typeof TokenPage.Encoded = { items: [token], next_cursor: null }
const issued: typeof IssuedApiToken.Encoded = { ...token, secret: "ipt_8ClZ1A8pFt69nXPEwkdesH3szrSwGfzM-gIcs1LuDrw" }
const newUser: typeof CreatedUser.Encoded = { user, token: { ...issued, name: "default" } }
const completeRequest: typeof CompleteRequest.Encoded = { sha256: SHA256 }
const createBatch: typeof CreateBatchRequest.Encoded = { total_files: 3, name: "Scans of 2 December" }
const createUser: typeof CreateUserRequest.Encoded = { name: "scanner-3", quota_bytes: 100 * 1024 * MiB }
const updateUser: typeof UpdateUserRequest.Encoded = { quota_bytes: 200 * 1024 * MiB }
const issueToken: typeof IssueTokenRequest.Encoded = { name: "laptop" }
const retried: typeof OutboxEvent.Encoded = {
  ...event, status: "PENDING", attempt_count: 0, next_attempt_at: "2026-12-02T11:05:00.000Z"
}
const updated: typeof User.Encoded = { ...user, quota_bytes: 200 * 1024 * MiB }
const revoked: typeof ApiToken.Encoded = { ...token, revoked_at: "2026-12-02T12:00:00.000Z" }

/** By operationId. */
export const examples: Readonly<Record<string, OperationExamples>> = {
  getHealth: { responses: { 200: health } },
  getCurrentUser: { responses: { 200: user } },
  createSession: { request: createSession, responses: { 200: created, 201: created, 429: quotaExceeded } },
  listSessions: { responses: { 200: sessions } },
  getSession: { responses: { 200: inProgress } },
  completeSession: { request: completeRequest, responses: { 200: complete, 409: missing } },
  abortSession: { responses: { 200: aborted } },
  uploadPart: { responses: { 200: receipt, 409: conflict } },
  getFile: { responses: { 200: stored } },
  downloadFile: { responses: { 416: outsideTheFile } },
  createBatch: { request: createBatch, responses: { 201: newBatch } },
  listBatches: { responses: { 200: batches } },
  getBatch: { responses: { 200: batch } },
  listBatchFiles: { responses: { 200: batchFiles } },
  getQuota: { responses: { 200: quota } },
  runSweep: { responses: { 200: sweep } },
  listOutboxEvents: { responses: { 200: outbox } },
  retryOutboxEvent: { responses: { 200: retried } },
  listUsers: { responses: { 200: users } },
  createUser: { request: createUser, responses: { 201: newUser } },
  updateUser: { request: updateUser, responses: { 200: updated } },
  listUserTokens: { responses: { 200: tokens } },
  issueToken: { request: issueToken, responses: { 201: issued } },
  revokeToken: { responses: { 200: revoked } }
}
