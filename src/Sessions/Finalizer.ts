/**
 * Completing a session: check every part is there, assemble them in order into the final
 * object while hashing, verify the expected SHA-256, then in ONE transaction mark the file
 * STORED, the session COMPLETE, write the `file.stored` event and count the file in its batch.
 *
 * Assembly runs outside any transaction. Exactly one request assembles a session at a time:
 * within a process a keyed lock queues concurrent completes; across instances a finalize lease
 * on the session row (renewed while assembling, taken over if its holder dies) does the same,
 * and only the lease's holder can commit.
 */
import { DateTime, Duration, Effect, Option } from "effect"
import { requireOwner } from "../Auth/Policy"
import { PortalConfig } from "../Config"
import { ChecksumMismatch, FinalizeInProgress, InvalidRequest, MissingParts, NotFound } from "../Domain/Errors"
import type { SessionId } from "../Domain/Ids"
import { countInRanges, FailureReason, isOpen, missingRanges, type UploadSession, writeRefusal } from "../Domain/Session"
import { makeKeyedLock } from "../KeyedLock"
import { leaseTiming, newHolder, waitFor, whileHeld } from "../Lease"
import { Metrics } from "../Operations/Metrics"
import { Parts } from "../Parts/Parts"
import { someOrFail } from "../Repo"
import { inTransaction } from "../Sql"
import { Storage, type UploadTarget } from "../Storage/Storage"
import { SessionLifecycle } from "./Lifecycle"
import { Sessions } from "./Sessions"
import { SessionsRepo } from "./SessionsRepo"

type Expected = { readonly sha256: string; readonly declaredAtCreation: boolean }

export class Finalizer extends Effect.Service<Finalizer>()("Portal/Finalizer", {
  scoped: Effect.gen(function*() {
    const config = yield* PortalConfig
    const repo = yield* SessionsRepo
    const sessions = yield* Sessions
    const parts = yield* Parts
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const metrics = yield* Metrics
    const inProcess = yield* makeKeyedLock<SessionId>()
    const lease = leaseTiming(config.uploadLease)

    const load = (id: SessionId) => repo.findById(id).pipe(someOrFail(() => NotFound.session(id)))

    const inProgress = (id: SessionId) =>
      new FinalizeInProgress({
        message: `another complete of session ${id} is assembling it; retry shortly`,
        session_id: id,
        retry_after_seconds: Math.max(1, Math.ceil(Duration.toSeconds(lease.duration) / 2))
      })

    /** The answer for a session that is already COMPLETE: the stored file, as before. */
    const completed = (id: SessionId, requested: Option.Option<string>) =>
      Effect.gen(function*() {
        const result = yield* sessions.view(id)
        const actual = Option.getOrElse(result.file.sha256, () => "")
        if (Option.isSome(requested) && requested.value !== actual) return yield* ChecksumMismatch.file(requested.value, actual)
        return result
      })

    /** The answer for a session that failed the checksum declared at its creation: the same 422 every time. */
    const failedChecksum = (session: UploadSession) =>
      Effect.gen(function*() {
        const result = yield* sessions.view(session.id)
        return yield* ChecksumMismatch.file(
          Option.getOrElse(session.expected_sha256, () => ""),
          Option.getOrElse(result.file.sha256, () => "")
        )
      })

    /** Where the session's bytes are in the store. */
    const targetOf = (session: UploadSession) =>
      Effect.gen(function*() {
        const [location] = yield* repo.uploadLocations([session.id])
        const ref = location?.storage_upload_ref ?? null
        if (ref === null) return yield* Effect.dieMessage(`session ${session.id} has parts but no storage upload`)
        const target: UploadTarget = { sessionId: session.id, fileId: session.file_id, ref }
        return target
      })

    /** Assembles and stores under the finalize lease held by `holder`; Some(error) to answer instead. */
    const assembleAndStore = (session: UploadSession, expected: Option.Option<Expected>, holder: string) =>
      Effect.gen(function*() {
        const received = yield* parts.receivedInOrder(session.id)
        if (received.length !== session.total_parts) {
          return yield* Effect.dieMessage(`session ${session.id} has ${received.length} of ${session.total_parts} parts`)
        }
        const target = yield* targetOf(session)
        const assembled = yield* storage.complete({ target, holder, parts: received }).pipe(
          whileHeld({
            timing: lease,
            renew: Effect.map(repo.renewFinalize({ id: session.id, holder, lease: lease.duration }), Option.isSome),
            lost: () => inProgress(session.id)
          }),
          Effect.map(Option.some),
          // another writer's bytes replaced some parts in the store: they count no more, and the
          // client, told which are missing, sends them again
          Effect.catchTag("PartsReplaced", ({ partNumbers }) =>
            Effect.as(parts.unreceive({ sessionId: session.id, partNumbers }), Option.none())),
          // parts vanish when the session is aborted mid-assembly: report that, not a storage outage
          Effect.catchTag("StorageError", (error) =>
            Effect.flatMap(repo.findById(session.id), (current) =>
              Option.exists(current, (s) => isOpen(s.status)) ? Effect.die(error) : Effect.succeedNone))
        )
        if (Option.isNone(assembled)) return Option.none()
        const object = assembled.value
        const now = yield* DateTime.now

        if (Option.isSome(expected) && expected.value.sha256 !== object.sha256) {
          const mismatch = ChecksumMismatch.file(expected.value.sha256, object.sha256)
          // a digest given only now may be a typo: the session stays completable with the right one,
          // and the object stays for that (completing again yields the same bytes)
          if (!expected.value.declaredAtCreation) return Option.some(mismatch)
          const failed = yield* inTransaction(lifecycle.terminate({
            sessionId: session.id,
            status: "FAILED",
            reason: FailureReason.checksumMismatch,
            now,
            computedSha256: Option.some(object.sha256)
          }))
          if (Option.isSome(failed)) yield* metrics.sessionFailed
          yield* storage.deleteObject(object.key).pipe(Effect.orDie)
          yield* storage.discardUpload(target).pipe(Effect.orDie)
          return Option.some(mismatch)
        }

        const stored = yield* inTransaction(
          lifecycle.store({ sessionId: session.id, fileId: session.file_id, holder, object, now })
        )
        // aborted, swept, or taken over while we assembled: the object belongs to no stored file
        // (if another complete stored this same object meanwhile, it is the one the file names)
        if (Option.isNone(stored)) {
          const current = yield* sessions.view(session.id)
          if (Option.getOrNull(current.file.storage_key) !== object.key) yield* storage.deleteObject(object.key).pipe(Effect.orDie)
          return Option.none()
        }
        yield* metrics.sessionCompleted
        yield* storage.discardUpload(target).pipe(Effect.orDie)
        return Option.none()
      }).pipe(
        Effect.ensuring(repo.releaseFinalize(session.id, holder).pipe(Effect.ignore)),
        metrics.timeFinalize,
        Effect.withSpan("Finalizer.assemble", { attributes: { session: session.id, parts: session.total_parts } })
      )

    /** Takes the finalize lease; None while another complete holds it. */
    const claim = (id: SessionId) =>
      Effect.gen(function*() {
        const holder = newHolder()
        const claimed = yield* repo.claimFinalize({ id, holder, lease: lease.duration })
        return Option.map(claimed, () => holder)
      })

    const finalize = (id: SessionId, requested: Option.Option<string>) =>
      Effect.gen(function*() {
        while (true) {
          const session = yield* load(id)
          if (Option.isSome(session.expected_sha256) && Option.isSome(requested) &&
            session.expected_sha256.value !== requested.value && session.status !== "FAILED") {
            return yield* new InvalidRequest({ message: "sha256 differs from the one given when the session was created" })
          }
          if (session.status === "COMPLETE") return yield* completed(id, requested)
          if (session.status === "FAILED" && Option.contains(session.failure_reason, FailureReason.checksumMismatch)) {
            return yield* failedChecksum(session)
          }
          const refusal = writeRefusal(session, yield* DateTime.now)
          if (Option.isSome(refusal)) return yield* refusal.value

          const missing = missingRanges(yield* sessions.receivedRanges(id), session.total_parts)
          if (missing.length > 0) {
            const count = countInRanges(missing)
            return yield* new MissingParts({
              message: `${count} of ${session.total_parts} parts have not been received`,
              session_id: id,
              missing_parts: missing,
              missing_count: count
            })
          }
          const expected = Option.orElse(
            Option.map(session.expected_sha256, (sha256): Expected => ({ sha256, declaredAtCreation: true })),
            () => Option.map(requested, (sha256): Expected => ({ sha256, declaredAtCreation: false }))
          )
          // another instance may be assembling this session: wait for its outcome, or for its lease to lapse
          const holder = yield* waitFor(
            Effect.flatMap(claim(id), (claimed) =>
              Option.isSome(claimed)
                ? Effect.succeed(Option.some(Option.some(claimed.value)))
                : Effect.map(load(id), (current) => (isOpen(current.status) ? Option.none() : Option.some(Option.none())))),
            { within: config.finalizeWait }
          ).pipe(someOrFail(() => inProgress(id)))
          if (Option.isNone(holder)) continue
          const failure = yield* assembleAndStore(session, expected, holder.value)
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
  dependencies: [SessionsRepo.Default, Sessions.Default, Parts.Default, SessionLifecycle.Default, Metrics.Default]
}) {}
