/**
 * Every way a session ends, with everything that must change alongside it: the file's
 * status, the batch counters, the events. Each function must run inside the caller's
 * transaction, and each is a no-op (None) when the session is no longer open, so a
 * finalize, an abort and a sweeper racing each other count the session exactly once.
 */
import { Effect, Option } from "effect"
import { BatchesRepo } from "../Batches/BatchesRepo"
import type { IngestFile } from "../Domain/File"
import type { FileId, SessionId } from "../Domain/Ids"
import { FilesRepo } from "../Files/FilesRepo"
import { Outbox } from "../Outbox/Outbox"
import type { StoredObject } from "../Storage/Storage"
import { SessionsRepo } from "./SessionsRepo"
import { someOrDie } from "../Found"

export class SessionLifecycle extends Effect.Service<SessionLifecycle>()("Portal/SessionLifecycle", {
  effect: Effect.gen(function*() {
    const sessions = yield* SessionsRepo
    const files = yield* FilesRepo
    const batches = yield* BatchesRepo
    const outbox = yield* Outbox

    const countInBatch = (file: IngestFile, outcome: "stored" | "failed", now: Date) =>
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
      readonly now: Date
      /** What the assembled bytes hashed to, kept on the failed file for the record. */
      readonly computedSha256?: Option.Option<string>
      /** The digest the client expected, when it was first given at complete. */
      readonly expectedSha256?: Option.Option<string>
    }) =>
      Effect.gen(function*() {
        const session = yield* sessions.terminate({
          id: input.sessionId,
          status: input.status,
          reason: input.reason,
          expectedSha256: Option.getOrNull(input.expectedSha256 ?? Option.none()),
          now: input.now
        })
        if (Option.isNone(session)) return Option.none()
        const file = yield* files.markFailed(session.value.file_id, input.now, input.computedSha256 ?? Option.none())
        if (Option.isSome(file)) yield* countInBatch(file.value, "failed", input.now)
        return session
      })

    /** Open → COMPLETE; the file is STORED with its object, announced, and counted as stored. */
    const store = (input: {
      readonly sessionId: SessionId
      readonly fileId: FileId
      readonly object: StoredObject
      readonly now: Date
    }) =>
      Effect.gen(function*() {
        const session = yield* sessions.markComplete(input.sessionId, input.now)
        if (Option.isNone(session)) return Option.none()
        const file = yield* files.markStored(input.fileId, input.object, input.now).pipe(
          Effect.orDie,
          someOrDie(() => `file ${input.fileId} of an open session was not UPLOADING`)
        )
        yield* outbox.fileStored(file, input.sessionId).pipe(Effect.orDie)
        yield* countInBatch(file, "stored", input.now)
        return Option.some({ session: session.value, file })
      })

    return { terminate, store } as const
  }),
  dependencies: [SessionsRepo.Default, FilesRepo.Default, BatchesRepo.Default, Outbox.Default]
}) {}
