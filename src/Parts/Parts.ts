/**
 * Receiving a part. Validate against the session, then one of three things:
 * - the part number is free: claim it, stream the body to the part's place while hashing,
 *   and record it as received in one short transaction;
 * - the part was already received: hash the body without storing it and compare, so a
 *   retry with the same bytes succeeds (counted once) and other bytes are refused with 409,
 *   leaving the stored part untouched;
 * - another request is writing the part right now: wait until it is done, then compare.
 * No database connection is held while bytes flow, and a part counts only once its bytes
 * are complete, durable and verified.
 */
import { Duration, Effect, Either, Option, Schedule } from "effect"
import { requireOwner } from "../Auth/Policy"
import { PortalConfig } from "../Config"
import { sha256FromContentDigest, sha256FromHex } from "../Domain/Checksum"
import {
  ChecksumMismatch,
  InvalidRequest,
  NotFound,
  PartConflict,
  PartInProgress,
  PartNumberOutOfRange,
  PartSizeMismatch,
  PartTooLarge
} from "../Domain/Errors"
import { newId, PartId, type SessionId } from "../Domain/Ids"
import { partByteRange, type UploadPart, type UploadSession, writeRefusal } from "../Domain/Session"
import { Assembler } from "../Sessions/Assembler"
import { SessionsRepo } from "../Sessions/SessionsRepo"
import { consumeBody } from "../Storage/Body"
import { type BodyTooLarge, type BodyUnreadable, Storage, type StorageError, type StoredPart } from "../Storage/Storage"
import { addDuration, currentDate } from "../Time"
import { PartReceipt } from "./Api"
import { someOrFail } from "../Found"

/** How long a claim lasts without renewal; the writer renews it every third of that. */
const CLAIM_LEASE = Duration.seconds(60)
const CLAIM_RENEWAL = Duration.seconds(20)
/** How often a request waiting on another upload of the same part looks again. */
const WAIT_POLL = Duration.millis(100)

export interface PartUpload {
  readonly sessionId: SessionId
  readonly partNumber: number
  /** The raw request body. */
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
      sessions.findById(id).pipe(someOrFail(() => NotFound.session(id)))

    const refuseUnlessWritable = (session: UploadSession, now: Date) =>
      Option.match(writeRefusal(session, now), { onNone: () => Effect.void, onSome: Effect.fail })

    /** What one upload must satisfy, and the errors it reports, for one part of one session. */
    const expectationsFor = (session: UploadSession, partNumber: number, declared: Option.Option<string>) => {
      const { offset, size } = partByteRange(session, partNumber)
      const tooLarge = new PartTooLarge({
        message: `part ${partNumber} must be exactly ${size} bytes; the body is longer`,
        part_number: partNumber,
        expected_size_bytes: size
      })
      const sizeMismatch = (received: number) =>
        new PartSizeMismatch({
          message: `part ${partNumber} must be exactly ${size} bytes, got ${received}`,
          part_number: partNumber,
          expected_size_bytes: size,
          received_size_bytes: received
        })
      /** Size and declared digest of what arrived, checked before anything is recorded. */
      const verify = (received: { readonly size: number; readonly sha256: string }) =>
        Effect.gen(function*() {
          if (received.size !== size) return yield* sizeMismatch(received.size)
          if (Option.isSome(declared) && declared.value !== received.sha256) {
            return yield* new ChecksumMismatch({
              message: `part ${partNumber} does not match its declared SHA-256`,
              scope: "part",
              part_number: partNumber,
              expected_sha256: declared.value,
              actual_sha256: received.sha256
            })
          }
        })
      return { offset, size, tooLarge, sizeMismatch, verify }
    }

    type Expectations = ReturnType<typeof expectationsFor>

    /** Reading the body: too long is 413, unreadable is the client's problem, storage failures are ours. */
    const readingBody = <A>(expected: Expectations, effect: Effect.Effect<A, BodyTooLarge | BodyUnreadable | StorageError>) =>
      effect.pipe(Effect.catchTags({
        BodyTooLarge: () => Effect.fail(expected.tooLarge),
        BodyUnreadable: (error) =>
          Effect.fail(new InvalidRequest({ message: `the request body could not be read: ${String(error.cause)}` })),
        StorageError: (error) => Effect.die(error)
      }))

    /** A retry of a received part: hash the body, store nothing, compare. */
    const compareWithReceived = (session: UploadSession, part: UploadPart, body: ReadableStream<Uint8Array>, expected: Expectations) =>
      Effect.gen(function*() {
        const hasher = new Bun.CryptoHasher("sha256")
        const size = yield* readingBody(expected, consumeBody(body, expected.size, (chunk) => void hasher.update(chunk)))
        const sha256 = hasher.digest("hex")
        yield* expected.verify({ size, sha256 })
        if (sha256 !== part.sha256) {
          return yield* new PartConflict({
            message: `part ${part.part_number} was already received with other bytes ` +
              `(stored sha256 ${part.sha256}, this body ${sha256})`,
            part_number: part.part_number,
            stored_sha256: part.sha256,
            received_sha256: sha256
          })
        }
        const current = yield* loadSession(session.id)
        return receipt(current, part, true)
      })

    /**
     * Records a written part as received and counts it, in one statement. When that matches
     * nothing, find out why: the session stopped accepting parts, or the claim was lost.
     */
    const record = (session: UploadSession, partNumber: number, token: string, written: StoredPart) =>
      Effect.gen(function*() {
        const now = yield* currentDate
        const recorded = yield* sessions.receivePart({
          sessionId: session.id,
          partNumber,
          token,
          key: written.key,
          size: written.size,
          sha256: written.sha256,
          now,
          expiresAt: addDuration(now, config.sessionTtl)
        })
        if (Option.isSome(recorded)) return receipt(recorded.value.session, recorded.value.part, false)
        yield* refuseUnlessWritable(yield* loadSession(session.id), now)
        return yield* new PartInProgress({
          message: `the claim on part ${partNumber} lapsed while it was written; send it again`,
          part_number: partNumber
        })
      })

    /** The holder of the part's claim writes it, renewing the claim for as long as it writes. */
    const writeClaimed = (
      session: UploadSession,
      partNumber: number,
      token: string,
      body: ReadableStream<Uint8Array>,
      expected: Expectations
    ) => {
      const lost = new PartInProgress({
        message: `the claim on part ${partNumber} was lost while it was written; send it again`,
        part_number: partNumber
      })
      const renewClaim = currentDate.pipe(
        Effect.flatMap((now) => sessions.extendClaim(session.id, partNumber, token, addDuration(now, CLAIM_LEASE))),
        Effect.flatMap((kept) => (kept ? Effect.void : Effect.fail(lost))),
        Effect.repeat(Schedule.spaced(CLAIM_RENEWAL)),
        Effect.delay(CLAIM_RENEWAL)
      )
      const write = readingBody(
        expected,
        storage.writePart({ sessionId: session.id, partNumber, offset: expected.offset, body, maxBytes: expected.size })
      )
      return Effect.gen(function*() {
        // the write stops if the claim is ever lost: then someone else may be writing this place
        const written = yield* Effect.raceFirst(write, Effect.zipRight(renewClaim, Effect.fail(lost)))
        yield* expected.verify(written)
        const done = yield* record(session, partNumber, token, written)
        yield* assembler.partRecorded(session.id, session.file_id, partNumber, written)
        return done
      }).pipe(
        Effect.onError(() => sessions.releaseClaim(session.id, partNumber, token).pipe(Effect.ignore))
      )
    }

    const upload = (input: PartUpload) =>
      Effect.gen(function*() {
        const session = yield* loadSession(input.sessionId)
        yield* requireOwner("session", session.created_by)
        const startedAt = yield* currentDate
        yield* refuseUnlessWritable(session, startedAt)
        if (input.partNumber < 1 || input.partNumber > session.total_parts) {
          return yield* new PartNumberOutOfRange({
            message: `part_number must be between 1 and ${session.total_parts}`,
            part_number: input.partNumber,
            total_parts: session.total_parts
          })
        }
        const expected = expectationsFor(
          session,
          input.partNumber,
          yield* declaredDigest(input.contentDigest, input.partSha256)
        )
        // a declared length that cannot be right is refused before a single byte is read
        if (Option.isSome(input.contentLength)) {
          if (input.contentLength.value > expected.size) return yield* expected.tooLarge
          if (input.contentLength.value < expected.size) return yield* expected.sizeMismatch(input.contentLength.value)
        }

        const deadline = addDuration(startedAt, Duration.times(CLAIM_LEASE, 2))
        while (true) {
          const now = yield* currentDate
          const token = Bun.randomUUIDv7()
          const claimed = yield* sessions.claimPart({
            id: yield* newId(PartId),
            sessionId: session.id,
            partNumber: input.partNumber,
            offset: expected.offset,
            token,
            now,
            until: addDuration(now, CLAIM_LEASE)
          })
          if (claimed) return yield* writeClaimed(session, input.partNumber, token, input.body, expected)
          const existing = yield* sessions.findPart(session.id, input.partNumber)
          if (Option.isSome(existing) && existing.value.status === "RECEIVED") {
            return yield* compareWithReceived(session, existing.value, input.body, expected)
          }
          // another request is writing this part: its outcome decides what ours means
          if (now.getTime() >= deadline.getTime()) {
            return yield* new PartInProgress({
              message: `another upload of part ${input.partNumber} is still in progress; retry later`,
              part_number: input.partNumber
            })
          }
          yield* Effect.sleep(WAIT_POLL)
        }
      }).pipe(Effect.withSpan("Parts.upload", { attributes: { session: input.sessionId, part: input.partNumber } }))

    return { upload } as const
  }),
  dependencies: [SessionsRepo.Default, Assembler.Default]
}) {}

