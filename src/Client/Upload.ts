/**
 * `cli upload <path>...`: each file is hashed, then uploaded through a session that the same
 * command finds again after an interruption, so a rerun sends only the missing parts.
 *
 * Resuming: the session is created with an Idempotency-Key derived from what identifies the
 * upload (the file's SHA-256, size, name, the chunk size asked for) and a generation number.
 * Replaying the creation with the same key answers the same session (200). If that session
 * ended without storing the file (FAILED, ABORTED, expired), the next generation's key gives
 * a fresh session, and a later rerun walks the same chain to the session still open.
 */
import {
  FileSystem,
  HttpBody,
  HttpClientError,
  HttpClientRequest,
  HttpClientResponse
} from "@effect/platform"
import { Clock, Console, Effect, Option, ParseResult, Schedule, Schema, Stream } from "effect"
import type { IngestFile } from "../Domain/File"
import { fingerprint } from "../Domain/Fingerprint"
import { isOpen, partByteRange, type PartRange } from "../Domain/Session"
import { PartReceipt } from "../Parts/Api"
import { CompleteRequest, CreatedSession, CreateSessionRequest } from "../Sessions/Api"
import { ClientError, describe, explain, fileFailure, refusal, ServerRefusal } from "./Errors"
import { formatBytes, formatDuration, formatRate } from "./Format"
import { PortalClient } from "./PortalClient"
import { note, withProgress } from "./Progress"

export interface UploadOptions {
  /** Parts in flight at once. */
  readonly parallel: number
  /** Size of every part but the last; none: the portal's default. */
  readonly chunkSize: Option.Option<number>
}

export interface LocalFile {
  readonly path: string
  /** The name the portal records: the path's last segment. */
  readonly name: string
  readonly size: number
  readonly contentType: string
}

/** Generations of sessions tried for one upload before giving up. */
const MAX_GENERATIONS = 50

/** A part another request is still writing (e.g. one the interrupted run left behind) is retried for ~30 s. */
const partInProgressRetry = Schedule.exponential("500 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(6))
)

/** Checks that `path` is a non-empty regular file that can be read, before any request is made. */
export const localFile = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path).pipe(Effect.mapError(fileFailure("upload", path)))
    if (info.type !== "File") {
      return yield* new ClientError({ message: `cannot upload ${path}: it is not a regular file` })
    }
    if (info.size === BigInt(0)) {
      return yield* new ClientError({
        message: `cannot upload ${path}: it is empty (the portal stores files of 1 byte or more)`
      })
    }
    yield* fs.access(path, { readable: true }).pipe(Effect.mapError(fileFailure("read", path)))
    const blob = Bun.file(path)
    const file: LocalFile = {
      path,
      name: path.split(/[\\/]/).filter((segment) => segment !== "").at(-1) ?? path,
      size: Number(info.size),
      contentType: blob.type === "" ? "application/octet-stream" : blob.type
    }
    return file
  })

/** The file's SHA-256, streamed from disk (with a bar on a terminal: large files take a while). */
const sha256Of = (file: LocalFile) =>
  withProgress({ verb: "hashing", label: file.name, total: file.size, plain: false }, (progress) => {
    const hasher = new Bun.CryptoHasher("sha256")
    return Stream.fromReadableStream(
      () => Bun.file(file.path).stream(),
      (cause) => new ClientError({ message: `cannot read ${file.path}: ${String(cause)}` })
    ).pipe(
      Stream.runForEach((chunk) =>
        Effect.zipRight(Effect.sync(() => hasher.update(chunk)), progress.advance(chunk.byteLength))
      ),
      Effect.map(() => hasher.digest("hex"))
    )
  })

const idempotencyKey = (file: LocalFile, sha256: string, options: UploadOptions, generation: number) =>
  `portal-cli-${
    fingerprint({
      sha256,
      size: file.size,
      filename: file.name,
      chunk_size: Option.getOrElse(options.chunkSize, () => "default")
    })
  }-${generation}`

const sessionRequest = (file: LocalFile, sha256: string, options: UploadOptions) =>
  Schema.decodeUnknown(CreateSessionRequest)({
    filename: file.name,
    content_type: file.contentType,
    total_size_bytes: file.size,
    sha256,
    ...Option.match(options.chunkSize, { onNone: () => ({}), onSome: (bytes) => ({ chunk_size_bytes: bytes }) })
  }).pipe(
    Effect.mapError((error) => {
      const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
      const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `
      return new ClientError({ message: `cannot upload ${file.path}: ${where}${issue?.message ?? "invalid request"}` })
    })
  )

/** The typed client decodes only the declared 201; a replay of the same key answers 200 with the same body. */
const isReplay = (error: unknown): error is HttpClientError.ResponseError =>
  HttpClientError.isHttpClientError(error) && error._tag === "ResponseError" && error.reason === "Decode" &&
  error.response.status === 200

type Opened =
  | { readonly _tag: "Stored"; readonly file: IngestFile }
  | { readonly _tag: "Open"; readonly session: CreatedSession; readonly replayed: boolean }

/** The session for this upload: the one an earlier run left open, or a new one. */
const openSession = (file: LocalFile, sha256: string, options: UploadOptions) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const payload = yield* sessionRequest(file, sha256, options)
    for (let generation = 0; generation < MAX_GENERATIONS; generation++) {
      const headers = { "idempotency-key": idempotencyKey(file, sha256, options, generation) }
      const answer = yield* client.api.sessions.create({ payload, headers }).pipe(
        Effect.map((session) => Option.some({ session, replayed: false })),
        Effect.catchIf(isReplay, (error) =>
          HttpClientResponse.schemaBodyJson(CreatedSession)(error.response).pipe(
            Effect.map((session) => Option.some({ session, replayed: true }))
          )),
        // the key belongs to another request (the portal's default chunk size changed): take the next one
        Effect.catchTag("IdempotencyConflict", () => Effect.succeedNone),
        Effect.mapError(explain(client.baseUrl))
      )
      if (Option.isNone(answer)) continue
      const { replayed, session } = answer.value
      if (session.status === "COMPLETE") {
        const opened: Opened = { _tag: "Stored", file: session.file }
        return opened
      }
      if (isOpen(session.status) && !session.expired) {
        const opened: Opened = { _tag: "Open", session, replayed }
        return opened
      }
      const why = session.expired ? "expired" : Option.getOrElse(session.failure_reason, () => session.status)
      yield* note(`${file.name}: the earlier session ${session.id} ended (${why}); starting a new one`)
    }
    return yield* new ClientError({
      message: `${file.name}: ${MAX_GENERATIONS} sessions for this upload ended without storing it; giving up`
    })
  })

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
export const uploadFile = (file: LocalFile, options: UploadOptions) =>
  Effect.gen(function*() {
    const sha256 = yield* sha256Of(file)
    const opened = yield* openSession(file, sha256, options)
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
