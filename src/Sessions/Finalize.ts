/**
 * Completing a session: check every part is there, assemble them in order into the final
 * object while hashing, verify the expected SHA-256, then in ONE transaction mark the file
 * STORED, the session COMPLETE, write the `file.stored` event and count the file in its batch.
 *
 * Assembly runs outside any transaction. Exactly one request assembles a session at a time:
 * within a process a keyed lock queues concurrent completes; across instances a lease on the
 * session row (renewed while assembling, reclaimable if its holder dies) does the same.
 */
import { inTransaction } from "../Sql"
import { Duration, Effect, Option, Schedule } from "effect"
import { requireOwner } from "../Auth/Policy"
import { ChecksumMismatch, InvalidRequest, MissingParts, NotFound } from "../Domain/Errors"
import type { SessionId } from "../Domain/Ids"
import { countInRanges, FailureReason, isOpen, missingRanges, type UploadSession, writeRefusal } from "../Domain/Session"
import { makeKeyedLock } from "../KeyedLock"
import { Storage } from "../Storage/Storage"
import { addDuration, currentDate } from "../Time"
import { Assembler } from "./Assembler"
import { SessionLifecycle } from "./Lifecycle"
import { Sessions } from "./Sessions"
import { SessionsRepo } from "./SessionsRepo"
import { someOrFail } from "../Found"

const LEASE = Duration.seconds(60)
const HEARTBEAT = Duration.seconds(20)
/** How often a complete waiting on another instance's assembly looks again. */
const POLL = Duration.millis(200)

export class Finalizer extends Effect.Service<Finalizer>()("Portal/Finalizer", {
  effect: Effect.gen(function*() {
    const repo = yield* SessionsRepo
    const sessions = yield* Sessions
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const assembler = yield* Assembler
    const inProcess = makeKeyedLock<SessionId>()

    const load = (id: SessionId) =>
      repo.findById(id).pipe(someOrFail(() => NotFound.session(id)))

    const mismatch = (expected: string, actual: string) =>
      new ChecksumMismatch({
        message: `the assembled file has SHA-256 ${actual}, not the expected ${expected}`,
        scope: "file",
        expected_sha256: expected,
        actual_sha256: actual
      })

    /** The answer for a session that is already COMPLETE: the stored file, as before. */
    const completed = (id: SessionId, expected: Option.Option<string>) =>
      Effect.gen(function*() {
        const result = yield* sessions.view(id)
        const actual = Option.getOrElse(result.file.sha256, () => "")
        if (Option.isSome(expected) && expected.value !== actual) return yield* mismatch(expected.value, actual)
        return result
      })

    /** The answer for a session that failed its checksum: the same 422 every time. */
    const failedChecksum = (session: UploadSession) =>
      Effect.gen(function*() {
        const result = yield* sessions.view(session.id)
        return yield* mismatch(
          Option.getOrElse(session.expected_sha256, () => ""),
          Option.getOrElse(result.file.sha256, () => "")
        )
      })

    const assembleAndStore = (session: UploadSession, expected: Option.Option<string>) =>
      Effect.gen(function*() {
        const parts = yield* repo.partsInOrder(session.id)
        if (parts.length !== session.total_parts) {
          return yield* Effect.dieMessage(`session ${session.id} has ${parts.length} of ${session.total_parts} parts`)
        }
        const renewLease = currentDate.pipe(
          Effect.flatMap((now) => repo.extendFinalize(session.id, addDuration(now, LEASE))),
          Effect.repeat(Schedule.spaced(HEARTBEAT)),
          Effect.delay(HEARTBEAT)
        )
        const assembled = yield* Effect.scoped(
          Effect.zipRight(Effect.forkScoped(renewLease), assembler.assemble(session.id, session.file_id, parts))
        ).pipe(
          Effect.map(Option.some),
          // parts vanish when the session is aborted mid-assembly: report that, not a storage outage
          Effect.catchTag("StorageError", (error) =>
            Effect.flatMap(repo.findById(session.id), (current) =>
              Option.exists(current, (s) => isOpen(s.status)) ? Effect.die(error) : Effect.succeedNone))
        )
        if (Option.isNone(assembled)) return Option.none()
        const object = assembled.value
        const now = yield* currentDate

        if (Option.isSome(expected) && expected.value !== object.sha256) {
          yield* inTransaction(lifecycle.terminate({
            sessionId: session.id,
            status: "FAILED",
            reason: FailureReason.checksumMismatch,
            now,
            computedSha256: Option.some(object.sha256),
            expectedSha256: expected
          }))
          yield* storage.deleteObject(object.key).pipe(Effect.orDie)
          yield* storage.deleteSessionParts(session.id).pipe(Effect.orDie)
          return Option.some(mismatch(expected.value, object.sha256))
        }

        const stored = yield* inTransaction(
          lifecycle.store({ sessionId: session.id, fileId: session.file_id, object, now })
        )
        if (Option.isNone(stored)) {
          // aborted or swept while we assembled: the object belongs to no stored file
          yield* storage.deleteObject(object.key).pipe(Effect.orDie)
          return Option.none()
        }
        yield* storage.deleteSessionParts(session.id).pipe(Effect.orDie)
        return Option.none()
      }).pipe(
        Effect.onExit(() => repo.releaseFinalize(session.id).pipe(Effect.ignore)),
        Effect.withSpan("Finalizer.assemble", { attributes: { session: session.id, parts: session.total_parts } })
      )

    const finalize = (id: SessionId, requested: Option.Option<string>) =>
      Effect.gen(function*() {
        while (true) {
          const session = yield* load(id)
          if (session.expected_sha256._tag === "Some" && Option.isSome(requested) &&
            session.expected_sha256.value !== requested.value && session.status !== "FAILED") {
            return yield* new InvalidRequest({
              message: "sha256 differs from the one given when the session was created"
            })
          }
          const expected = Option.orElse(session.expected_sha256, () => requested)
          if (session.status === "COMPLETE") return yield* completed(id, requested)
          if (session.status === "FAILED" && Option.contains(session.failure_reason, FailureReason.checksumMismatch)) {
            return yield* failedChecksum(session)
          }
          const now = yield* currentDate
          const refusal = writeRefusal(session, now)
          if (Option.isSome(refusal)) return yield* refusal.value

          const missing = missingRanges(yield* repo.receivedRanges(id), session.total_parts)
          if (missing.length > 0) {
            const count = countInRanges(missing)
            return yield* new MissingParts({
              message: `${count} of ${session.total_parts} parts have not been received`,
              session_id: id,
              missing_parts: missing,
              missing_count: count
            })
          }
          if (!(yield* repo.claimFinalize(id, now, addDuration(now, LEASE)))) {
            // another instance is assembling this session; its outcome will show in the row
            yield* Effect.sleep(POLL)
            continue
          }
          const failure = yield* assembleAndStore(session, expected)
          if (Option.isSome(failure)) return yield* failure.value
          // loop once more: reports COMPLETE, or whatever ended the session meanwhile
        }
      })

    const complete = (id: SessionId, requested: Option.Option<string>) =>
      Effect.gen(function*() {
        const session = yield* load(id)
        yield* requireOwner("session", session.created_by)
        return yield* inProcess.withLock(id, finalize(id, requested))
      }).pipe(Effect.withSpan("Finalizer.complete", { attributes: { session: id } }))

    return { complete } as const
  }),
  dependencies: [SessionsRepo.Default, Sessions.Default, SessionLifecycle.Default, Assembler.Default]
}) {}
