/**
 * tus uploads as upload sessions (`/tus/{id}` is `/uploads/sessions/{id}`): creating one
 * (planned like any session: quota, limits, part size), where one stands (its durable
 * offset), appending a body to it under its writer lease, terminating it. An append runs in a
 * fiber of its own, so that a client going away mid-body does not interrupt it: it keeps
 * what arrived, gives the lease up and ends.
 */
import { DateTime, Duration, Effect, Fiber, FiberSet, Option, ParseResult, Schema } from "effect"
import * as NodePath from "node:path"
import { requireOwner } from "../Auth/Policy"
import { PortalConfig } from "../Config"
import { CurrentUser } from "../Domain/CurrentUser"
import { InvalidRequest, SessionExpired, type SessionNotWritable } from "../Domain/Errors"
import type { SessionId } from "../Domain/Ids"
import { FailureReason, isExpired, isOpen } from "../Domain/Session"
import { Parts } from "../Parts/Parts"
import { UploadSlots } from "../Parts/UploadSlots"
import { CreateSessionRequest, type SessionView } from "../Sessions/Api"
import { Sessions } from "../Sessions/Sessions"
import { TusAppender } from "./Appender"
import { TusCompletion } from "./Completion"
import type { BodyCursor } from "./Cursor"
import { UploadGone, UploadLengthExceeded, UploadOffsetMismatch } from "./Errors"
import { TusFragments } from "./Fragments"
import type { DeclaredChecksum } from "./Protocol"
import { prepareSpools } from "./Spool"
import { TusWriterLease } from "./WriterLease"

export interface AppendRequest {
  /** The body, being read since the request arrived. */
  readonly cursor: BodyCursor
  /** Upload-Offset: where the client says the body goes. */
  readonly offset: number
  readonly contentLength: Option.Option<number>
  readonly checksum: Option.Option<DeclaredChecksum>
}

/** What HEAD, PATCH and POST answer about an upload. */
export interface UploadState {
  readonly offset: number
  readonly session: SessionView
}

export class TusUploads extends Effect.Service<TusUploads>()("Portal/TusUploads", {
  scoped: Effect.gen(function*() {
    const config = yield* PortalConfig
    const sessions = yield* Sessions
    const parts = yield* Parts
    const slots = yield* UploadSlots
    const appender = yield* TusAppender
    const completion = yield* TusCompletion
    const writers = yield* TusWriterLease
    const fragments = yield* TusFragments
    const { limits } = sessions
    const spools = NodePath.join(config.dataDir, "tmp", "tus")
    yield* prepareSpools(spools)
    const appends = yield* FiberSet.make()

    /** The default part size, larger when the file would need more parts than the storage takes. */
    const chunkSizeFor = (length: number) =>
      Math.min(limits.chunkSizeMax, Math.max(limits.chunkSizeDefault, Math.ceil(length / limits.maxParts)))

    const create = (length: number, metadata: Readonly<Record<string, string>>) =>
      Effect.gen(function*() {
        const named = (...keys: ReadonlyArray<string>) =>
          Option.firstSomeOf(keys.map((key) => Option.fromNullable(metadata[key]).pipe(Option.filter((value) => value !== ""))))
        const request = yield* Schema.decodeUnknown(CreateSessionRequest)({
          filename: Option.getOrElse(named("filename", "name"), () => "upload"),
          content_type: Option.getOrElse(named("filetype", "type"), () => "application/octet-stream"),
          total_size_bytes: length,
          chunk_size_bytes: chunkSizeFor(length),
          sha256: Option.getOrUndefined(named("sha256")),
          metadata
        }).pipe(
          Effect.mapError((error) =>
            new InvalidRequest({ message: `Upload-Metadata or Upload-Length: ${ParseResult.TreeFormatter.formatErrorSync(error)}` })
          )
        )
        const { session } = yield* sessions.create(request, Option.none())
        return session
      })

    /** Why a session takes no more bytes, unless it is open (a COMPLETE one is answered apart): 410 either way. */
    const refusal = (session: SessionView) =>
      Effect.gen(function*() {
        const expired = isExpired(session, yield* DateTime.now) ||
          (session.status === "FAILED" && Option.contains(session.failure_reason, FailureReason.expired))
        if (expired) return yield* SessionExpired.of(session)
        if (!isOpen(session.status)) {
          const { id, status } = session
          return yield* new UploadGone({ message: `upload ${id} is ${status}`, session_id: id, status })
        }
      })

    /** The upload's offset, completing it first when all its bytes are in but it is not complete yet. */
    const status = (id: SessionId) =>
      Effect.gen(function*() {
        const session = yield* sessions.get(id)
        if (session.status === "COMPLETE") return { offset: session.total_size_bytes, session } satisfies UploadState
        yield* refusal(session)
        const now = yield* completion.standingOf(session)
        const user = yield* CurrentUser
        if (now.offset < session.total_size_bytes || user.id !== session.created_by) {
          return { offset: now.offset, session } satisfies UploadState
        }
        // its last PATCH stored every byte but did not get to complete it (it died, or completing failed)
        yield* writers.ifFree(id, () => completion.settle(session))
        return { offset: (yield* completion.standingOf(session)).offset, session: yield* sessions.view(id) } satisfies UploadState
      })

    const appendHolding = (session: SessionView, request: AppendRequest) =>
      writers.holding(session.id, (held) =>
        Effect.gen(function*() {
          const now = yield* completion.standingOf(session)
          if (now.offset !== request.offset) return yield* mismatch(now.offset, request.offset)
          const target = yield* parts.targetOf(session)
          const { cursor } = request
          const failure = yield* appender.append({
            session,
            target,
            holder: held.holder,
            offset: request.offset,
            started: now.started,
            cursor,
            expected: Option.getOrElse(request.contentLength, () => Option.getOrElse(held.lastAppend, () => Number.POSITIVE_INFINITY)),
            checksum: request.checksum,
            spools
          }).pipe(Effect.raceFirst(watchdog(cursor)))
          if (cursor.ended && !cursor.broken) held.appended(cursor.consumed)
          yield* completion.settle(session)
          if (Option.isSome(failure)) return yield* failure.value
        }))

    /** Cuts a body off that brings no byte for UPLOAD_BODY_IDLE_TIMEOUT (what arrived is kept). */
    const watchdog = (cursor: BodyCursor) =>
      Effect.gen(function*() {
        const idle = Duration.toMillis(config.bodyIdleTimeout)
        while (true) {
          const quiet = cursor.quietFor(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
          if (quiet >= idle) {
            cursor.stall()
            return yield* Effect.never
          }
          yield* Effect.sleep(Duration.millis(idle - quiet))
        }
      })

    const mismatch = (offset: number, requested: number) =>
      new UploadOffsetMismatch({
        message: `the upload's offset is ${offset}, not ${requested}: HEAD it and resume from there`,
        upload_offset: offset,
        requested_offset: requested
      })

    /** Appends a PATCH (or creation-with-upload) body at Upload-Offset. */
    const append = (id: SessionId, request: AppendRequest) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const session = yield* sessions.get(id)
        yield* requireOwner("upload", session.created_by)
        const length = session.total_size_bytes
        const tooLong = (offset: number) =>
          Option.exists(request.contentLength, (bytes) => offset + bytes > length)
            ? Effect.fail(new UploadLengthExceeded({
              message: `the body goes past Upload-Length (${length} bytes)`,
              upload_length: length,
              upload_offset: offset
            }))
            : Effect.void
        if (session.status === "COMPLETE") {
          if (request.offset !== length) return yield* mismatch(length, request.offset)
          yield* tooLong(length)
          return { offset: length, session } satisfies UploadState
        }
        yield* refusal(session)
        const before = yield* completion.standingOf(session)
        if (before.offset !== request.offset) return yield* mismatch(before.offset, request.offset)
        yield* tooLong(request.offset)
        yield* slots.withSlot(user.id)(appendHolding(session, request)).pipe(
          // terminated or failed while this PATCH ran: gone, as tus says (a COMPLETE one stays 409)
          Effect.catchTag("SessionNotWritable", (error): Effect.Effect<never, SessionNotWritable | UploadGone> =>
            error.status === "COMPLETE"
              ? Effect.fail(error)
              : Effect.fail(new UploadGone({ message: error.message, session_id: error.session_id, status: error.status })))
        )
        const after = yield* sessions.view(id)
        const offset = after.status === "COMPLETE" ? length : (yield* completion.standingOf(after)).offset
        return { offset, session: after } satisfies UploadState
      })

    /**
     * Runs `effect` in a fiber of its own, which the request's interruption (its client went
     * away) does not reach: an append keeps what arrived, gives its lease up and ends by itself.
     */
    const detached = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(FiberSet.run(appends, effect), Fiber.join)

    /** Aborts the session (ABORTED, its file FAILED, its quota released) and forgets its fragments. */
    const terminate = (id: SessionId) =>
      Effect.gen(function*() {
        yield* sessions.abort(id)
        yield* fragments.forget(yield* fragments.ofSession(id))
      })

    return { create, status, append, terminate, detached, maxSize: limits.maxFileSize } as const
  }),
  dependencies: [
    Sessions.Default,
    Parts.Default,
    UploadSlots.Default,
    TusAppender.Default,
    TusCompletion.Default,
    TusWriterLease.Default,
    TusFragments.Default
  ]
}) {}
