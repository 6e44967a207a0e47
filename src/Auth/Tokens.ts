/**
 * API token secrets: 32 random bytes, shown to their owner once, stored only as SHA-256.
 * The prefix makes leaked tokens easy to recognise by secret scanners.
 */
import { Redacted } from "effect"
import { randomBytes, timingSafeEqual } from "node:crypto"

const PREFIX = "ipt_"
const SHAPE = /^ipt_[A-Za-z0-9_-]{43}$/

export const generateSecret = (): Redacted.Redacted<string> =>
  Redacted.make(PREFIX + randomBytes(32).toString("base64url"))

/** Rejects anything that cannot be a token before it costs a database round trip. */
export const isWellFormed = (secret: string): boolean => SHAPE.test(secret)

export const hashSecret = (secret: string): Uint8Array => new Bun.CryptoHasher("sha256").update(secret).digest()

/** Constant-time comparison of two digests. */
export const digestsEqual = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && timingSafeEqual(a, b)
