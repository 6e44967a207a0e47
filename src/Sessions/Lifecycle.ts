/**
 * Every way a session ends, with everything that must change alongside it: the file's
 * status, the batch counters, the quota, the events. Each function must run inside the
 * caller's transaction, and each is a no-op (None) when the session is no longer open, so a
 * finalize, an abort and a sweeper racing each other count the session exactly once.
 */
import { type DateTime, Effect, Option } from "effect"
import { Batches } from "../Batches/Batches"
import type { IngestFile } from "../Domain/File"
import type { FileId, SessionId } from "../Domain/Ids"
import { Files } from "../Files/Files"
import { Outbox } from "../Outbox/Outbox"
import { Quota } from "../Quota/Quota"
import { someOrDie } from "../Repo"
import type { StoredObject } from "../Storage/Storage"
import { SessionsRepo } from "./SessionsRepo"

export class SessionLifecycle extends Effect.Service<SessionLifecycle>()("Portal/SessionLifecycle", {
  effect: Effect.gen(function*() {
    const sessions = yield* SessionsRepo
    const files = yield* Files
    const batches = yield* Batches
    const outbox = yield* Outbox
    const quota = yield* Quota

    const countInBatch = (file: IngestFile, outcome: "stored" | "failed", now: DateTime.Utc) =>
      Option.match(file.batch_id, {
        onNone: () => Effect.void,
        onSome: (batchId) =>
          batches.recordOutcome(batchId, outcome, now).pipe(
            // counters never move after completion (CHECK batches_completed), so whoever sees
            // COMPLETED right after counting is the one who completed the batch
            Effect.flatMap((batch) => batch.status === "COMPLETED" ? outbox.batchCompleted(batch) : Effect.void),
            Effect.orDie,
            Effect.asVoid
          )
      })

    /** Open → FAILED or ABORTED; the file fails and counts as failed in its batch. */
    const terminate = (input: {
      readonly sessionId: SessionId
      readonly status: "FAILED" | "ABORTED"
      readonly reason: string
      readonly now: DateTime.Utc
      /** What the assembled bytes hashed to, kept on the failed file for the record. */
      readonly computedSha256?: Option.Option<string>
    }) =>
      Effect.gen(function*() {
        const session = yield* sessions.terminate({
          id: input.sessionId,
          status: input.status,
          reason: input.reason,
          now: input.now
        })
        if (Option.isNone(session)) return Option.none()
        const file = yield* files.markFailed(session.value.file_id, input.now, input.computedSha256 ?? Option.none())
        if (Option.isSome(file)) yield* countInBatch(file.value, "failed", input.now)
        return session
      })

    /**
     * Open → COMPLETE for the holder of the finalize lease; the file is STORED with its
     * object, its bytes spent from the quota, announced, and counted as stored.
     */
    const store = (input: {
      readonly sessionId: SessionId
      readonly fileId: FileId
      readonly holder: string
      readonly object: StoredObject
      readonly now: DateTime.Utc
    }) =>
      Effect.gen(function*() {
        const session = yield* sessions.markComplete({ id: input.sessionId, holder: input.holder, now: input.now })
        if (Option.isNone(session)) return Option.none()
        const file = yield* files.markStored(input.fileId, input.object, input.now).pipe(
          Effect.orDie,
          someOrDie(() => `file ${input.fileId} of an open session was not UPLOADING`)
        )
        yield* quota.addStored({ userId: file.uploaded_by, bytes: input.object.size })
        yield* outbox.fileStored(file, input.sessionId).pipe(Effect.orDie)
        yield* countInBatch(file, "stored", input.now)
        return Option.some({ session: session.value, file })
      })

    /**
     * Ends up to `limit` expired sessions that no other sweeper holds (FAILED, reason
     * "expired"); answers how many it locked and which it ended.
     */
    const expireSome = (now: DateTime.Utc, limit: number, reason: string) =>
      Effect.gen(function*() {
        const locked = yield* sessions.lockExpired({ now, limit })
        const ended = yield* Effect.forEach(locked, ({ id }) =>
          terminate({ sessionId: id, status: "FAILED", reason, now }).pipe(Effect.map((done) => (Option.isSome(done) ? [id] : []))))
        return { locked: locked.length, ended: ended.flat() }
      })

    return { terminate, store, expireSome } as const
  }),
  dependencies: [SessionsRepo.Default, Files.Default, Batches.Default, Outbox.Default, Quota.Default]
}) {}
