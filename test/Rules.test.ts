/** The pure rules of the domain, without a database or a server. */
import { describe, expect, it } from "bun:test"
import { DateTime, Duration, Either, Option } from "effect"
import { QuotaReport } from "../src/Domain/Quota"
import { SessionId } from "../src/Domain/Ids"
import { type SessionStatus, writeRefusal } from "../src/Domain/Session"
import { leaseTiming } from "../src/Lease"
import { checkDeclaredLength, declaredDigest, expectationsFor, verifyReceived } from "../src/Parts/Expectations"
import { MAX_PARTS, planSession } from "../src/Sessions/Rules"
import type { UploadSettings } from "../src/Config"

const limits: UploadSettings = {
  maxFileSize: 1000,
  chunkSizeDefault: 10,
  chunkSizeMin: 5,
  chunkSizeMax: 100,
  allowedContentTypes: Option.some(["text/*", "application/pdf"])
}
const anyStorage = { minPartSize: 1, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 10_000 }
const tag = <E extends { readonly _tag: string }>(either: Either.Either<unknown, E>) =>
  Either.match(either, { onLeft: (error) => error._tag, onRight: () => "ok" })

describe("planSession", () => {
  it("uses the default chunk size and counts the parts", () => {
    expect(planSession(limits, anyStorage, { total_size_bytes: 95, content_type: "text/plain" })).toEqual(Either.right({ chunkSize: 10, parts: 10 }))
  })

  it("refuses a file over the maximum with 413 first, whatever else is wrong", () => {
    expect(tag(planSession(limits, anyStorage, { total_size_bytes: 1001, content_type: "video/mp4", chunk_size_bytes: 1 }))).toBe("FileTooLarge")
  })

  it("refuses content types outside the allow-list, and chunk sizes outside the bounds", () => {
    expect(tag(planSession(limits, anyStorage, { total_size_bytes: 10, content_type: "video/mp4" }))).toBe("UnsupportedContentType")
    expect(tag(planSession(limits, anyStorage, { total_size_bytes: 10, content_type: "text/csv", chunk_size_bytes: 4 }))).toBe("ChunkSizeOutOfBounds")
    expect(tag(planSession(limits, anyStorage, { total_size_bytes: 10, content_type: "text/csv", chunk_size_bytes: 101 }))).toBe("ChunkSizeOutOfBounds")
  })

  it(`refuses more than ${MAX_PARTS} parts, naming the smallest chunk size that fits`, () => {
    const wide: UploadSettings = { ...limits, maxFileSize: 10 ** 9, chunkSizeMin: 1 }
    const refused = planSession(wide, anyStorage, { total_size_bytes: 100_001, content_type: "text/plain", chunk_size_bytes: 10 })
    expect(Either.isLeft(refused) && refused.left._tag === "ChunkSizeOutOfBounds" && refused.left.min_bytes).toBe(11)
    expect(Either.isRight(planSession(wide, anyStorage, { total_size_bytes: 100_000, content_type: "text/plain", chunk_size_bytes: 10 }))).toBe(true)
  })

  it("keeps chunk sizes within what the storage takes (S3: at least 5 MiB but the last part)", () => {
    const s3 = { minPartSize: 5 * 1024 * 1024, maxPartSize: 5 * 1024 ** 3, maxParts: 10_000 }
    const wide: UploadSettings = { ...limits, maxFileSize: 10 ** 10, chunkSizeMax: 10 ** 9 }
    expect(tag(planSession(wide, s3, { total_size_bytes: 20 * 1024 * 1024, content_type: "text/plain", chunk_size_bytes: 1024 * 1024 })))
      .toBe("ChunkSizeOutOfBounds")
    expect(Either.isRight(planSession(wide, s3, { total_size_bytes: 20 * 1024 * 1024, content_type: "text/plain", chunk_size_bytes: 5 * 1024 * 1024 })))
      .toBe(true)
  })
})

describe("part expectations", () => {
  const session = { total_size_bytes: 25, chunk_size_bytes: 10, total_parts: 3 }
  const expected = Either.getOrThrow(expectationsFor(session, 3, Option.some("a".repeat(64))))

  it("give the last part the remainder, and refuse numbers outside 1..total_parts", () => {
    expect([expected.offset, expected.size]).toEqual([20, 5])
    expect(tag(expectationsFor(session, 0, Option.none()))).toBe("PartNumberOutOfRange")
    expect(tag(expectationsFor(session, 4, Option.none()))).toBe("PartNumberOutOfRange")
  })

  it("refuse a Content-Length that cannot be right before reading", () => {
    expect(tag(checkDeclaredLength(expected, Option.some(6)))).toBe("PartTooLarge")
    expect(tag(checkDeclaredLength(expected, Option.some(4)))).toBe("PartSizeMismatch")
    expect(tag(checkDeclaredLength(expected, Option.some(5)))).toBe("ok")
    expect(tag(checkDeclaredLength(expected, Option.none()))).toBe("ok")
  })

  it("verify size and the declared digest of what arrived", () => {
    expect(tag(verifyReceived(expected, { size: 4, sha256: "a".repeat(64) }))).toBe("PartSizeMismatch")
    expect(tag(verifyReceived(expected, { size: 5, sha256: "b".repeat(64) }))).toBe("ChecksumMismatch")
    expect(tag(verifyReceived(expected, { size: 5, sha256: "a".repeat(64) }))).toBe("ok")
  })

  it("take the digest from Content-Digest or X-Part-Sha256, and refuse the two disagreeing", () => {
    const hex = "ab".repeat(32)
    const digest = `sha-256=:${Buffer.from(hex, "hex").toString("base64")}:`
    expect(declaredDigest(Option.some(digest), Option.some(hex.toUpperCase()))).toEqual(Either.right(Option.some(hex)))
    expect(tag(declaredDigest(Option.some(digest), Option.some("cd".repeat(32))))).toBe("InvalidRequest")
    expect(declaredDigest(Option.none(), Option.none())).toEqual(Either.right(Option.none()))
  })
})

describe("quota", () => {
  it("refuses exactly what does not fit", () => {
    const report = QuotaReport.of(100, 60, 30)
    expect(report.remaining_bytes).toBe(10)
    expect(Option.isNone(report.refusal(10))).toBe(true)
    expect(Option.map(report.refusal(11), (refused) => [refused._tag, refused.requested_bytes])).toEqual(
      Option.some(["QuotaExceeded", 11])
    )
  })
})

describe("writeRefusal", () => {
  const base = {
    id: SessionId.make("01936d8e-5a4b-7c3d-9e2f-0a1b2c3d4e5f"),
    status: "IN_PROGRESS" as SessionStatus,
    failure_reason: Option.none<string>(),
    expires_at: DateTime.unsafeMake("2026-01-01T00:00:00Z")
  }
  const refusal = (session: typeof base, now: string) =>
    Option.map(writeRefusal(session, DateTime.unsafeMake(now)), (error) => error._tag)

  it("is 410 once expired, swept or not, and 409 once ended otherwise", () => {
    expect(refusal(base, "2025-12-31T23:59:59Z")).toEqual(Option.none())
    expect(refusal(base, "2026-01-01T00:00:00Z")).toEqual(Option.some("SessionExpired"))
    expect(refusal({ ...base, status: "FAILED", failure_reason: Option.some("expired") }, "2025-01-01T00:00:00Z")).toEqual(Option.some("SessionExpired"))
    expect(refusal({ ...base, status: "COMPLETE", failure_reason: Option.none() }, "2025-01-01T00:00:00Z")).toEqual(Option.some("SessionNotWritable"))
  })
})

describe("leases", () => {
  it("are renewed every third of their duration", () => {
    expect(Duration.toMillis(leaseTiming(Duration.seconds(9)).renewEvery)).toBe(3000)
  })
})
