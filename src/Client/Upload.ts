/**
 * `cli upload <path>...`: each file is hashed, then uploaded through a session that the same
 * command finds again after an interruption (ResumableSession.ts), so a rerun sends only the
 * missing parts.
 */
import { HttpBody, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Clock, Console, Effect, Option, Schedule } from "effect"
import { partByteRange, type PartRange } from "../Domain/Session"
import { PartReceipt } from "../Parts/Api"
import { CompleteRequest, type CreatedSession } from "../Sessions/Api"
import { ClientError, describe, explain, refusal, ServerRefusal } from "./Errors"
import { formatBytes, formatDuration, formatRate } from "./Format"
import { type LocalFile, localFile, sha256Of } from "./LocalFile"
import { PortalClient } from "./PortalClient"
import { note, withProgress } from "./Progress"
import { openSession } from "./ResumableSession"

export interface UploadOptions {
  /** Parts in flight at once. */
  readonly parallel: number
  /** Size of every part but the last; none: the portal's default. */
  readonly chunkSize: Option.Option<number>
}

/** A part another request is still writing (e.g. one the interrupted run left behind) is retried for ~30 s. */
const partInProgressRetry = Schedule.exponential("500 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(6))
)

/** Part numbers of inclusive ranges: [[1,3],[7,7]] → 1, 2, 3, 7. */
const partNumbers = (ranges: ReadonlyArray<PartRange>): Array<number> =>
  ranges.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i))

/**
 * PUTs one part. The typed client only takes a Uint8Array body, which would hold the part in
 * memory; a slice of the file as the raw body lets fetch stream it from disk with its length.
 */
const sendPart = (file: LocalFile, session: CreatedSession, partNumber: number) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const { offset, size } = partByteRange(session, partNumber)
    const request = HttpClientRequest.put(`/uploads/sessions/${session.id}/parts/${partNumber}`).pipe(
      HttpClientRequest.setBody(
        HttpBody.raw(Bun.file(file.path).slice(offset, offset + size), {
          contentType: "application/octet-stream",
          contentLength: size
        })
      )
    )
    return yield* client.http.execute(request).pipe(
      Effect.filterOrElse((response) => response.status === 200, refusal),
      Effect.flatMap(HttpClientResponse.schemaBodyJson(PartReceipt)),
      Effect.retry({
        schedule: partInProgressRetry,
        while: (error) => error instanceof ServerRefusal && error.tag === "PartInProgress"
      }),
      Effect.mapError((error) => {
        const hint = error instanceof ServerRefusal && error.tag === "SessionExpired"
          ? "; run the same command again to start a new session"
          : ""
        return new ClientError({
          message: `${file.name}: part ${partNumber} failed: ${describe(client.baseUrl, error)}${hint}`
        })
      })
    )
  })

const complete = (file: LocalFile, session: CreatedSession) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const view = yield* client.api.sessions.complete({ path: { id: session.id }, payload: new CompleteRequest({}) }).pipe(
      Effect.catchTag("ChecksumMismatch", (error) =>
        new ClientError({
          message: `${file.name}: the portal assembled bytes with SHA-256 ${error.actual_sha256}, not the ` +
            `${error.expected_sha256} hashed here; did the file change during the upload? Run again to upload it anew`
        })),
      Effect.mapError(explain(client.baseUrl))
    )
    if (view.file.status !== "STORED") {
      return yield* new ClientError({ message: `${file.name}: the session completed but the file is ${view.file.status}` })
    }
    return view.file
  })

/** Uploads one file (resuming its session if an earlier run left one open) and answers the stored file. */
const uploadFile = (file: LocalFile, options: UploadOptions) =>
  Effect.gen(function*() {
    const sha256 = yield* sha256Of(file)
    const opened = yield* openSession(file, sha256, options.chunkSize)
    if (opened._tag === "Stored") {
      yield* note(`${file.name}: already stored as ${opened.file.id}`)
      return opened.file
    }
    const { replayed, session } = opened
    const missing = partNumbers(session.missing_parts)
    if (replayed) {
      yield* note(
        `${file.name}: resuming session ${session.id}: ${session.received_parts_count} of ${session.total_parts} ` +
          `parts already received, ${missing.length} to send`
      )
    }
    const startedAt = yield* Clock.currentTimeMillis
    yield* withProgress(
      { verb: "upload", label: file.name, total: file.size, done: session.received_bytes },
      (progress) =>
        Effect.forEach(
          missing,
          (partNumber) =>
            sendPart(file, session, partNumber).pipe(Effect.flatMap((receipt) => progress.advance(receipt.size_bytes))),
          { concurrency: options.parallel, discard: true }
        )
    ).pipe(
      Effect.onInterrupt(() =>
        note(`${file.name}: interrupted; the same command resumes session ${session.id} (parts received are kept)`)
      )
    )
    const stored = yield* complete(file, session)
    const seconds = ((yield* Clock.currentTimeMillis) - startedAt) / 1000
    const sent = file.size - session.received_bytes
    yield* note(
      `${file.name}: stored as ${stored.id} (${formatBytes(file.size)}; ${missing.length} parts sent and completed in ` +
        `${formatDuration(seconds)}${seconds > 0 ? `, ${formatRate(sent / seconds)}` : ""})`
    )
    return stored
  })

/**
 * Uploads the files one after the other and prints each file id alone on a line of stdout, so
 * the last line is the last file's id. Every path is checked before the first byte is sent;
 * the first failure stops the command.
 */
export const upload = (paths: ReadonlyArray<string>, options: UploadOptions) =>
  Effect.gen(function*() {
    const files = yield* Effect.forEach(paths, localFile)
    for (const file of files) {
      const stored = yield* uploadFile(file, options)
      yield* Console.log(stored.id)
    }
  })
