/**
 * What one upload of one part must satisfy, as pure rules: its number, its exact size, the
 * digest the client declared for it; and the errors that report each way of missing them.
 */
import { Either, Option } from "effect"
import { sha256FromContentDigest, sha256FromHex } from "../Domain/Checksum"
import {
  ChecksumMismatch,
  InvalidRequest,
  PartNumberOutOfRange,
  PartSizeMismatch,
  PartTooLarge
} from "../Domain/Errors"
import { partByteRange, type UploadSession } from "../Domain/Session"

/** The SHA-256 the client declared for a part, from either header; both must agree. */
export const declaredDigest = (
  contentDigest: Option.Option<string>,
  partSha256: Option.Option<string>
): Either.Either<Option.Option<string>, InvalidRequest> => {
  const invalid = (message: string) => new InvalidRequest({ message })
  return Either.gen(function*() {
    const fromDigest = Option.isSome(contentDigest)
      ? yield* Either.mapLeft(sha256FromContentDigest(contentDigest.value), invalid)
      : Option.none<string>()
    const fromHex = Option.isSome(partSha256)
      ? Option.some(yield* Either.mapLeft(sha256FromHex(partSha256.value), invalid))
      : Option.none<string>()
    if (Option.isSome(fromDigest) && Option.isSome(fromHex) && fromDigest.value !== fromHex.value) {
      return yield* Either.left(invalid("Content-Digest and X-Part-Sha256 declare different digests"))
    }
    return Option.orElse(fromDigest, () => fromHex)
  })
}

export interface Expectations {
  readonly partNumber: number
  /** Where the part starts in the file. */
  readonly offset: number
  /** Its exact size: chunk_size_bytes, or the remainder for the last part. */
  readonly size: number
  readonly declared: Option.Option<string>
  readonly tooLarge: PartTooLarge
  readonly sizeMismatch: (received: number) => PartSizeMismatch
}

/** The expectations for part `partNumber` of `session`, or why that part number cannot be. */
export const expectationsFor = (
  session: Pick<UploadSession, "total_size_bytes" | "chunk_size_bytes" | "total_parts">,
  partNumber: number,
  declared: Option.Option<string>
): Either.Either<Expectations, PartNumberOutOfRange> => {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > session.total_parts) {
    return Either.left(
      new PartNumberOutOfRange({
        message: `part_number must be between 1 and ${session.total_parts}`,
        part_number: partNumber,
        total_parts: session.total_parts
      })
    )
  }
  const { offset, size } = partByteRange(session, partNumber)
  return Either.right({
    partNumber,
    offset,
    size,
    declared,
    tooLarge: new PartTooLarge({
      message: `part ${partNumber} must be exactly ${size} bytes; the body is longer`,
      part_number: partNumber,
      expected_size_bytes: size
    }),
    sizeMismatch: (received) =>
      new PartSizeMismatch({
        message: `part ${partNumber} must be exactly ${size} bytes, got ${received}`,
        part_number: partNumber,
        expected_size_bytes: size,
        received_size_bytes: received
      })
  })
}

/** A Content-Length that cannot be right is refused before a single byte is read. */
export const checkDeclaredLength = (
  expected: Expectations,
  contentLength: Option.Option<number>
): Either.Either<void, PartTooLarge | PartSizeMismatch> => {
  if (Option.isNone(contentLength)) return Either.void
  if (contentLength.value > expected.size) return Either.left(expected.tooLarge)
  if (contentLength.value < expected.size) return Either.left(expected.sizeMismatch(contentLength.value))
  return Either.void
}

/** Size and declared digest of what arrived, checked before anything is recorded. */
export const verifyReceived = (
  expected: Expectations,
  received: { readonly size: number; readonly sha256: string }
): Either.Either<void, PartSizeMismatch | ChecksumMismatch> => {
  if (received.size !== expected.size) return Either.left(expected.sizeMismatch(received.size))
  if (Option.isSome(expected.declared) && expected.declared.value !== received.sha256) {
    return Either.left(ChecksumMismatch.part(expected.partNumber, expected.declared.value, received.sha256))
  }
  return Either.void
}
