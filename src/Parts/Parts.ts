/**
 * Receiving a part: validate against the session, stream the body to storage while hashing,
 * then record it in one short transaction. No database connection is held while bytes flow,
 * and a part only counts once its bytes are complete, durable and verified.
 */
import { inTransaction } from "../Sql"
import { DateTime, Effect, Either, Option } from "effect"
import { requireOwner } from "../Auth/Policy"
import { PortalConfig } from "../Config"
import { sha256FromContentDigest, sha256FromHex } from "../Domain/Checksum"
import {
  ChecksumMismatch,
  InvalidRequest,
  NotFound,
  PartConflict,
  PartNumberOutOfRange,
  PartSizeMismatch,
  PartTooLarge
} from "../Domain/Errors"
import { newId, PartId, type SessionId } from "../Domain/Ids"
import { partByteRange, UploadPart, type UploadSession, writeRefusal } from "../Domain/Session"
import { Assembler } from "../Sessions/Assembler"
import { SessionsRepo } from "../Sessions/SessionsRepo"
import { Storage, type StoredPart } from "../Storage/Storage"
import { addDuration, currentDate } from "../Time"
import { PartReceipt } from "./Api"

export interface PartUpload {
  readonly sessionId: SessionId
  readonly partNumber: number
  readonly body: ReadableStream<Uint8Array>
  /** The Content-Length header, when the client sent one. */
  readonly contentLength: Option.Option<number>
  readonly contentDigest: Option.Option<string>
  readonly partSha256: Option.Option<string>
}

/** The SHA-256 the client declared for this part, from either header; both must agree. */
const declaredDigest = (contentDigest: Option.Option<string>, partSha256: Option.Option<string>) =>
  Effect.gen(function*() {
    const invalid = (message: string) => new InvalidRequest({ message })
    const fromDigest = Option.isSome(contentDigest)
      ? yield* Either.mapLeft(sha256FromContentDigest(contentDigest.value), invalid)
      : Option.none<string>()
    const fromHex = Option.isSome(partSha256)
      ? Option.some(yield* Either.mapLeft(sha256FromHex(partSha256.value), invalid))
      : Option.none<string>()
    if (Option.isSome(fromDigest) && Option.isSome(fromHex) && fromDigest.value !== fromHex.value) {
      return yield* invalid("Content-Digest and X-Part-Sha256 declare different digests")
    }
    return Option.orElse(fromDigest, () => fromHex)
  })

const receipt = (session: UploadSession, part: UploadPart, alreadyReceived: boolean) =>
  new PartReceipt({
    session_id: session.id,
    part_number: part.part_number,
    size_bytes: part.size_bytes,
    sha256: part.sha256,
    already_received: alreadyReceived,
    session_status: session.status,
    received_parts_count: session.received_parts_count,
    received_bytes: session.received_bytes,
    total_parts: session.total_parts,
    expires_at: session.expires_at
  })

export class Parts extends Effect.Service<Parts>()("Portal/Parts", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const sessions = yield* SessionsRepo
    const storage = yield* Storage
    const assembler = yield* Assembler

    const loadSession = (id: SessionId) =>
      Effect.flatMap(sessions.findById(id), Option.match({
        onNone: () => Effect.fail(NotFound.session(id)),
        onSome: Effect.succeed
      }))

    const refuseUnlessWritable = (session: UploadSession, now: Date) =>
      Option.match(writeRefusal(session, now), { onNone: () => Effect.void, onSome: Effect.fail })

    /**
     * Records a written part: inserted and counted if its number is new, accepted without
     * counting if the same bytes were already there, refused if other bytes were. The
     * session row lock orders this against other parts, completion, abort and the sweeper.
     */
    const record = (session: UploadSession, partNumber: number, written: StoredPart) =>
      inTransaction(Effect.gen(function*() {
        const now = yield* currentDate
        const locked = yield* sessions.lock(session.id).pipe(
          Effect.flatMap(Option.match({ onNone: () => Effect.fail(NotFound.session(session.id)), onSome: Effect.succeed }))
        )
        yield* refuseUnlessWritable(locked, now)
        const part = new UploadPart({
          id: yield* newId(PartId),
          session_id: session.id,
          part_number: partNumber,
          status: "RECEIVED",
          temp_key: written.key,
          size_bytes: written.size,
          sha256: written.sha256,
          created_at: DateTime.unsafeFromDate(now)
        })
        const inserted = yield* sessions.insertPart(part)
        if (Option.isSome(inserted)) {
          const counted = yield* sessions.countPart(session.id, written.size, now, addDuration(now, config.sessionTtl))
          return { receipt: receipt(counted, inserted.value, false), kept: true }
        }
        const existing = yield* sessions.findPart(session.id, partNumber).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.dieMessage(`part ${partNumber} of ${session.id} conflicted but is missing`),
            onSome: Effect.succeed
          }))
        )
        if (existing.sha256 !== written.sha256) {
          return yield* new PartConflict({
            message: `part ${partNumber} was already received with other bytes ` +
              `(stored sha256 ${existing.sha256}, this body ${written.sha256})`,
            part_number: partNumber,
            stored_sha256: existing.sha256,
            received_sha256: written.sha256
          })
        }
        return { receipt: receipt(locked, existing, true), kept: false }
      }))

    const upload = (input: PartUpload) =>
      Effect.gen(function*() {
        const session = yield* loadSession(input.sessionId)
        yield* requireOwner("session", session.created_by)
        yield* refuseUnlessWritable(session, yield* currentDate)
        if (input.partNumber < 1 || input.partNumber > session.total_parts) {
          return yield* new PartNumberOutOfRange({
            message: `part_number must be between 1 and ${session.total_parts}`,
            part_number: input.partNumber,
            total_parts: session.total_parts
          })
        }
        const expectedSize = partByteRange(session, input.partNumber).size
        const sizeMismatch = (received: number) =>
          new PartSizeMismatch({
            message: `part ${input.partNumber} must be exactly ${expectedSize} bytes, got ${received}`,
            part_number: input.partNumber,
            expected_size_bytes: expectedSize,
            received_size_bytes: received
          })
        const tooLarge = new PartTooLarge({
          message: `part ${input.partNumber} must be exactly ${expectedSize} bytes; the body is longer`,
          part_number: input.partNumber,
          expected_size_bytes: expectedSize
        })
        // a declared length that cannot be right is refused before a single byte is read
        if (Option.isSome(input.contentLength)) {
          if (input.contentLength.value > expectedSize) return yield* tooLarge
          if (input.contentLength.value < expectedSize) return yield* sizeMismatch(input.contentLength.value)
        }
        const declared = yield* declaredDigest(input.contentDigest, input.partSha256)

        const written = yield* storage.writePart({
          sessionId: session.id,
          partNumber: input.partNumber,
          body: input.body,
          maxBytes: expectedSize
        }).pipe(
          Effect.catchTags({
            BodyTooLarge: () => Effect.fail(tooLarge),
            BodyUnreadable: (error) =>
              Effect.fail(new InvalidRequest({ message: `the request body could not be read: ${String(error.cause)}` })),
            StorageError: Effect.die
          })
        )
        // from here on, our copy of the part is deleted unless the database ends up pointing at it
        return yield* Effect.gen(function*() {
          if (written.size !== expectedSize) return yield* sizeMismatch(written.size)
          if (Option.isSome(declared) && declared.value !== written.sha256) {
            return yield* new ChecksumMismatch({
              message: `part ${input.partNumber} does not match its declared SHA-256`,
              scope: "part",
              part_number: input.partNumber,
              expected_sha256: declared.value,
              actual_sha256: written.sha256
            })
          }
          const { kept, receipt } = yield* record(session, input.partNumber, written)
          if (kept) yield* assembler.partRecorded(session.id, session.file_id)
          else yield* storage.deletePart(written.key).pipe(Effect.orDie)
          return receipt
        }).pipe(Effect.onError(() => storage.deletePart(written.key).pipe(Effect.ignore)))
      }).pipe(Effect.withSpan("Parts.upload", { attributes: { session: input.sessionId, part: input.partNumber } }))

    return { upload } as const
  }),
  dependencies: [SessionsRepo.Default, Assembler.Default]
}) {}
