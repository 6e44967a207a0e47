import { HttpApiError } from "@effect/platform"
import { describe, expect, it } from "bun:test"
import { Either, Option } from "effect"
import { contentDigestOf, sha256FromContentDigest, sha256FromHex } from "../src/Domain/Checksum"
import { canonicalJson, fingerprint } from "../src/Domain/Fingerprint"
import { countInRanges, missingRanges, partByteRange, toRanges, totalParts } from "../src/Domain/Session"
import { contentDisposition, decideRange, etagMatches } from "../src/Files/Download"
import { sanitizeDecodeError } from "../src/HttpErrors"
import { contentTypeAllowed } from "../src/Sessions/Rules"

describe("totalParts", () => {
  it("is ceil(total / chunk)", () => {
    expect(totalParts(100, 10)).toBe(10)
    expect(totalParts(101, 10)).toBe(11)
    expect(totalParts(1, 10)).toBe(1)
    expect(totalParts(5 * 1024 ** 3, 8 * 1024 ** 2)).toBe(640)
  })
})

describe("partByteRange", () => {
  const session = { total_size_bytes: 25, chunk_size_bytes: 10 }
  it("gives every part but the last exactly chunk_size_bytes", () => {
    expect(partByteRange(session, 1)).toEqual({ offset: 0, size: 10 })
    expect(partByteRange(session, 2)).toEqual({ offset: 10, size: 10 })
  })
  it("gives the last part the remainder", () => {
    expect(partByteRange(session, 3)).toEqual({ offset: 20, size: 5 })
    expect(partByteRange({ total_size_bytes: 30, chunk_size_bytes: 10 }, 3)).toEqual({ offset: 20, size: 10 })
  })
})

describe("part ranges", () => {
  it("compresses sorted part numbers into inclusive ranges", () => {
    expect(toRanges([1, 2, 3, 7, 9, 10])).toEqual([[1, 3], [7, 7], [9, 10]])
    expect(toRanges([])).toEqual([])
  })
  it("lists the missing parts as the complement", () => {
    expect(missingRanges([[1, 3], [7, 7]], 10)).toEqual([[4, 6], [8, 10]])
    expect(missingRanges([], 10_000)).toEqual([[1, 10_000]])
    expect(missingRanges([[1, 5]], 5)).toEqual([])
    expect(missingRanges([[2, 5]], 5)).toEqual([[1, 1]])
  })
  it("counts the parts in ranges", () => {
    expect(countInRanges([[4, 6], [8, 10]])).toBe(6)
  })
})

describe("checksum headers", () => {
  const hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
  it("reads sha-256 from an RFC 9530 Content-Digest, ignoring other algorithms", () => {
    const header = `sha-512=:${Buffer.alloc(64).toString("base64")}:, ${contentDigestOf(hex)}`
    expect(sha256FromContentDigest(header)).toEqual(Either.right(Option.some(hex)))
    expect(sha256FromContentDigest(`md5=:${Buffer.alloc(16).toString("base64")}:`)).toEqual(Either.right(Option.none()))
  })
  it("rejects malformed digests", () => {
    expect(Either.isLeft(sha256FromContentDigest("sha-256=abc"))).toBe(true)
    expect(Either.isLeft(sha256FromContentDigest(`sha-256=:${Buffer.alloc(31).toString("base64")}:`))).toBe(true)
    expect(Either.isLeft(sha256FromHex("xyz"))).toBe(true)
  })
  it("normalizes a hex digest to lowercase", () => {
    expect(sha256FromHex(hex.toUpperCase())).toEqual(Either.right(hex))
  })
})

describe("fingerprint", () => {
  it("does not depend on key order, and does on values", () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } })).toBe('{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}')
    expect(fingerprint({ a: 1, b: 2 })).toBe(fingerprint({ b: 2, a: 1 }))
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: 2 }))
  })
})

describe("content type allow-list", () => {
  it("matches exact types and type/* wildcards, ignoring parameters and case", () => {
    const allowed = ["video/mp4", "image/*"]
    expect(contentTypeAllowed(allowed, "video/mp4")).toBe(true)
    expect(contentTypeAllowed(allowed, "Video/MP4; codecs=avc1")).toBe(true)
    expect(contentTypeAllowed(allowed, "image/png")).toBe(true)
    expect(contentTypeAllowed(allowed, "video/webm")).toBe(false)
    expect(contentTypeAllowed(allowed, "imagex/png")).toBe(false)
  })
})

describe("Range", () => {
  it("serves single ranges, suffixes and open ends", () => {
    expect(decideRange("bytes=0-9", 100)).toEqual({ _tag: "Partial", offset: 0, length: 10 })
    expect(decideRange("bytes=90-", 100)).toEqual({ _tag: "Partial", offset: 90, length: 10 })
    expect(decideRange("bytes=-10", 100)).toEqual({ _tag: "Partial", offset: 90, length: 10 })
    expect(decideRange("bytes=95-200", 100)).toEqual({ _tag: "Partial", offset: 95, length: 5 })
    expect(decideRange("bytes=-500", 100)).toEqual({ _tag: "Partial", offset: 0, length: 100 })
  })
  it("is unsatisfiable past the end", () => {
    expect(decideRange("bytes=100-", 100)).toEqual({ _tag: "Unsatisfiable" })
    expect(decideRange("bytes=-0", 100)).toEqual({ _tag: "Unsatisfiable" })
  })
  it("falls back to the whole file for what it does not serve", () => {
    expect(decideRange(undefined, 100)).toEqual({ _tag: "Full" })
    expect(decideRange("bytes=0-1,5-6", 100)).toEqual({ _tag: "Full" })
    expect(decideRange("items=0-1", 100)).toEqual({ _tag: "Full" })
    expect(decideRange("bytes=9-3", 100)).toEqual({ _tag: "Full" })
  })
})

describe("Content-Disposition", () => {
  it("keeps the exact name in filename* and a safe ASCII one in filename", () => {
    expect(contentDisposition('rapport "final"\\é.pdf')).toBe(
      "attachment; filename=\"rapport _final__\u005f.pdf\"; filename*=UTF-8''rapport%20%22final%22%5C%C3%A9.pdf"
    )
    expect(contentDisposition("a'(b)*.txt")).toBe("attachment; filename=\"a'(b)*.txt\"; filename*=UTF-8''a%27%28b%29%2A.txt")
  })
})

describe("ETag matching", () => {
  it("matches lists and *", () => {
    expect(etagMatches('"x", "y"', '"y"')).toBe(true)
    expect(etagMatches("*", '"y"')).toBe(true)
    expect(etagMatches('"x"', '"y"')).toBe(false)
    expect(etagMatches(undefined, '"y"')).toBe(false)
  })
})

describe("decode errors", () => {
  it("never echo a large input back", () => {
    const huge = "A".repeat(100_000)
    const error = new HttpApiError.HttpApiDecodeError({
      message: `Expected number, actual "${huge}"`,
      issues: [{ _tag: "Type", path: ["x"], message: `Expected number, actual "${huge}"` }]
    })
    const clean = sanitizeDecodeError(error)
    expect(clean.message.length).toBeLessThan(200)
    expect(clean.message.startsWith("Expected number, actual")).toBe(true)
    expect(clean.issues[0]?.message.length).toBeLessThan(200)
  })
})
