/**
 * Finding again the session of an upload that `cli upload` started before, so that a rerun
 * sends only the missing parts.
 *
 * The session is created with an Idempotency-Key derived from what identifies the upload (the
 * file's SHA-256, size, name, the chunk size asked for) and a generation number. Replaying the
 * creation with the same key answers the same session (200). If that session ended without
 * storing the file (FAILED, ABORTED, expired), the next generation's key gives a fresh session,
 * and a later rerun walks the same chain to the session still open.
 */
import { HttpClientError, HttpClientResponse } from "@effect/platform"
import { Effect, Option, ParseResult, Schema } from "effect"
import type { IngestFile } from "../Domain/File"
import { fingerprint } from "../Domain/Fingerprint"
import { isOpen } from "../Domain/Session"
import { CreatedSession, CreateSessionRequest } from "../Sessions/Api"
import { ClientError, explain } from "./Errors"
import type { LocalFile } from "./LocalFile"
import { PortalClient } from "./PortalClient"
import { note } from "./Progress"

/** Generations of sessions tried for one upload before giving up. */
const MAX_GENERATIONS = 50

const idempotencyKey = (file: LocalFile, sha256: string, chunkSize: Option.Option<number>, generation: number) =>
  `portal-cli-${
    fingerprint({
      sha256,
      size: file.size,
      filename: file.name,
      chunk_size: Option.getOrElse(chunkSize, () => "default")
    })
  }-${generation}`

const sessionRequest = (file: LocalFile, sha256: string, chunkSize: Option.Option<number>) =>
  Schema.decodeUnknown(CreateSessionRequest)({
    filename: file.name,
    content_type: file.contentType,
    total_size_bytes: file.size,
    sha256,
    ...Option.match(chunkSize, { onNone: () => ({}), onSome: (bytes) => ({ chunk_size_bytes: bytes }) })
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
export const openSession = (file: LocalFile, sha256: string, chunkSize: Option.Option<number>) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const payload = yield* sessionRequest(file, sha256, chunkSize)
    for (let generation = 0; generation < MAX_GENERATIONS; generation++) {
      const headers = { "idempotency-key": idempotencyKey(file, sha256, chunkSize, generation) }
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
