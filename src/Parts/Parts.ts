/**
 * Receiving a part. Validate against the session, then one of three things:
 * - the part number is free: claim it, stream the body to the part's place while hashing,
 *   and record it as received in one short transaction;
 * - the part was already received: hash the body without storing it and compare, so a
 *   retry with the same bytes succeeds (counted once) and other bytes are refused with 409,
 *   leaving the stored part untouched;
 * - another request is writing the part right now: wait (backing off) until it is done or
 *   its claim lapses, then do one of the above.
 * No database connection is held while bytes flow, and a part counts only once its bytes
 * are complete, durable and verified.
 */
import { DateTime, Effect, Option } from "effect"
import { requireOwner } from "../Auth/Policy"
import { PortalConfig } from "../Config"
import { NotFound, PartConflict, PartInProgress } from "../Domain/Errors"
import { newId, PartId, type SessionId } from "../Domain/Ids"
import { type UploadPart, type UploadSession, writeRefusal } from "../Domain/Session"
import { leaseTiming, newHolder, waitFor, whileHeld } from "../Lease"
import { Metrics } from "../Operations/Metrics"
import { someOrFail } from "../Repo"
import { consumeBody } from "../Storage/Body"
import { Storage, type UploadTarget, type WrittenPart } from "../Storage/Storage"
import { PartReceipt } from "./Api"
import { checkDeclaredLength, declaredDigest, type Expectations, expectationsFor, verifyReceived } from "./Expectations"
import { endingStalls, readingBody } from "./PartBody"
import { PartsRepo } from "./PartsRepo"
import { UploadSlots } from "./UploadSlots"

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
  }, { disableValidation: true }) // made of decoded rows; the response is encoded (and checked) anyway

export class Parts extends Effect.Service<Parts>()("Portal/Parts", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const repo = yield* PartsRepo
    const storage = yield* Storage
    const slots = yield* UploadSlots
    const metrics = yield* Metrics
    const lease = leaseTiming(config.uploadLease)

    const loadSession = (id: SessionId) => repo.session(id).pipe(someOrFail(() => NotFound.session(id)))

    /**
     * The session's upload in the store, started by the first part that needs it. Parts that
     * race here may each start one: the first recorded counts, the others are given up.
     */
    const uploadOf = (session: UploadSession, ref: string | null) =>
      Effect.gen(function*() {
        const target = (ref: string): UploadTarget => ({ sessionId: session.id, fileId: session.file_id, ref })
        if (ref !== null) return target(ref)
        const ours = yield* storage.createUpload({ sessionId: session.id, fileId: session.file_id }).pipe(Effect.orDie)
        const { storage_upload_ref: winner } = yield* repo.setUploadRef({ id: session.id, ref: ours })
        if (winner !== ours) yield* storage.discardUpload(target(ours)).pipe(Effect.ignore)
        return target(winner)
      })

    /** Where the session's bytes go in the store, its upload started if no part has needed it yet. */
    const targetOf = (session: UploadSession) =>
      Effect.flatMap(loadSession(session.id), ({ storage_upload_ref }) => uploadOf(session, storage_upload_ref))

    const refuseUnlessWritable = (session: UploadSession, now: DateTime.Utc) =>
      Option.match(writeRefusal(session, now), { onNone: () => Effect.void, onSome: Effect.fail })

    /** A retry of a received part: hash the body, store nothing, compare. */
    const compareWithReceived = (part: UploadPart, body: ReadableStream<Uint8Array>, expected: Expectations) =>
      Effect.gen(function*() {
        const hasher = new Bun.CryptoHasher("sha256")
        const size = yield* endingStalls(config.bodyIdleTimeout, (touch) =>
          readingBody(expected, consumeBody(body, expected.size, (chunk) => void hasher.update(chunk), touch)))
        const sha256 = hasher.digest("hex")
        yield* verifyReceived(expected, { size, sha256 })
        if (sha256 !== part.sha256) {
          return yield* new PartConflict({
            message: `part ${part.part_number} was already received with other bytes ` +
              `(stored sha256 ${part.sha256}, this body ${sha256})`,
            part_number: part.part_number,
            stored_sha256: part.sha256,
            received_sha256: sha256
          })
        }
        return receipt((yield* loadSession(part.session_id)).session, part, true)
      })

    /**
     * Records a written part as received and counts it, in one statement. When that matches
     * nothing, find out why: the session stopped accepting parts, or the claim was lost.
     */
    const record = (session: UploadSession, token: string, expected: Expectations, written: WrittenPart) =>
      Effect.gen(function*() {
        const now = yield* DateTime.now
        const recorded = yield* repo.receive({
          sessionId: session.id,
          partNumber: expected.partNumber,
          token,
          key: written.locator,
          size: written.size,
          sha256: written.sha256,
          now,
          expiresAt: DateTime.addDuration(now, config.sessionTtl)
        })
        if (Option.isSome(recorded)) return receipt(recorded.value.session, recorded.value.part, false)
        yield* refuseUnlessWritable((yield* loadSession(session.id)).session, now)
        return yield* PartInProgress.claimLost(expected.partNumber)
      })

    /** The holder of the part's claim writes it, renewing the claim for as long as it writes. */
    const writeClaimed = (
      session: UploadSession,
      ref: string | null,
      token: string,
      body: ReadableStream<Uint8Array>,
      expected: Expectations
    ) => {
      const claim = { sessionId: session.id, partNumber: expected.partNumber, token }
      return Effect.gen(function*() {
        const target = yield* uploadOf(session, ref)
        const write = endingStalls(config.bodyIdleTimeout, (touch) =>
          readingBody(
            expected,
            storage.writePart({ target, partNumber: expected.partNumber, claim: token, size: expected.size, body, observe: touch })
          ))
        // the write stops if the claim is ever lost: then someone else may be writing this part
        const written = yield* write.pipe(whileHeld({
          timing: lease,
          renew: Effect.map(repo.renewClaim({ ...claim, lease: lease.duration }), Option.isSome),
          lost: () => PartInProgress.claimLost(expected.partNumber)
        }))
        yield* verifyReceived(expected, written)
        const done = yield* record(session, token, expected, written)
        yield* storage.partRecorded(target, { ...written, partNumber: expected.partNumber })
        return done
      }).pipe(Effect.onError(() => Effect.ignore(repo.releaseClaim(claim))))
    }

    type Turn =
      | { readonly _tag: "Claimed"; readonly token: string }
      | { readonly _tag: "Received"; readonly part: UploadPart }

    /** Claims the part, or finds it received; None while another request holds its claim. */
    const takeTurn = (session: UploadSession, expected: Expectations): Effect.Effect<Option.Option<Turn>> =>
      Effect.gen(function*() {
        const token = newHolder()
        const claimed = yield* repo.claim({
          id: yield* newId(PartId),
          sessionId: session.id,
          partNumber: expected.partNumber,
          offset: expected.offset,
          token,
          now: yield* DateTime.now,
          lease: lease.duration
        })
        if (Option.isSome(claimed)) return Option.some<Turn>({ _tag: "Claimed", token })
        const existing = yield* repo.find({ sessionId: session.id, partNumber: expected.partNumber })
        return Option.isSome(existing) && existing.value.status === "RECEIVED"
          ? Option.some<Turn>({ _tag: "Received", part: existing.value })
          : Option.none()
      })

    const upload = (input: PartUpload) =>
      Effect.gen(function*() {
        const { session, storage_upload_ref } = yield* loadSession(input.sessionId)
        const owner = yield* requireOwner("session", session.created_by)
        return yield* receiveInSlot(session, storage_upload_ref, input).pipe(slots.withSlot(owner.id), Effect.tap(metrics.partReceived))
      }).pipe(Effect.withSpan("Parts.upload", { attributes: { session: input.sessionId, part: input.partNumber } }))

    const receiveInSlot = (session: UploadSession, ref: string | null, input: PartUpload) =>
      Effect.gen(function*() {
        yield* refuseUnlessWritable(session, yield* DateTime.now)
        const expected = yield* expectationsFor(
          session,
          input.partNumber,
          yield* declaredDigest(input.contentDigest, input.partSha256)
        )
        yield* checkDeclaredLength(expected, input.contentLength)
        // another request writing this part decides what ours means: wait for its outcome
        const turn = yield* waitFor(takeTurn(session, expected), { within: config.partWait }).pipe(
          someOrFail(() => PartInProgress.busy(expected.partNumber))
        )
        return turn._tag === "Claimed"
          ? yield* writeClaimed(session, ref, turn.token, input.body, expected)
          : yield* compareWithReceived(turn.part, input.body, expected)
      })

    /** The same as `upload`, for a caller that holds the user's upload slot (a tus PATCH, writing part after part). */
    const uploadInHeldSlot = (input: PartUpload) =>
      Effect.gen(function*() {
        const { session, storage_upload_ref } = yield* loadSession(input.sessionId)
        yield* requireOwner("session", session.created_by)
        return yield* receiveInSlot(session, storage_upload_ref, input).pipe(Effect.tap(metrics.partReceived))
      }).pipe(Effect.withSpan("Parts.upload", { attributes: { session: input.sessionId, part: input.partNumber } }))

    return { upload, uploadInHeldSlot, targetOf, receivedInOrder: repo.receivedInOrder, unreceive: repo.unreceive } as const
  }),
  dependencies: [PartsRepo.Default, UploadSlots.Default, Metrics.Default]
}) {}
