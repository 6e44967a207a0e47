import { describe, expect, it } from "bun:test"
import { Option } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { resumableSha256 } from "../src/Storage/ResumableSha256"

const sha = Option.getOrThrow(resumableSha256())
const reference = (...pieces: ReadonlyArray<Uint8Array>) => {
  const hash = createHash("sha256")
  for (const piece of pieces) hash.update(piece)
  return hash.digest("hex")
}

describe("the resumable SHA-256", () => {
  it("hashes as SHA-256 does, empty input included", () => {
    expect(sha.fresh().digest()).toBe(reference())
    const data = randomBytes(1_000_003)
    const hasher = sha.fresh()
    hasher.update(data.subarray(0, 17))
    hasher.update(data.subarray(17))
    expect(hasher.digest()).toBe(reference(data))
  })

  it("continues from a saved state at any offset, block-aligned or not", () => {
    const data = randomBytes(300_000)
    for (const cut of [0, 1, 63, 64, 65, 4096, 131_071, 299_999]) {
      const first = sha.fresh()
      first.update(data.subarray(0, cut))
      const saved = first.save()
      // the state is data: copy it through a buffer as a database would
      const continued = sha.resume(Uint8Array.from(Buffer.from(Buffer.from(saved).toString("base64"), "base64")))
      continued.update(data.subarray(cut))
      expect(continued.digest()).toBe(reference(data))
      // saving does not disturb the original
      first.update(data.subarray(cut))
      expect(first.digest()).toBe(reference(data))
    }
  })

  it("continues a state that was itself continued", () => {
    const parts = [randomBytes(5000), randomBytes(70), randomBytes(12345)]
    let state = sha.fresh().save()
    for (const part of parts) {
      const hasher = sha.resume(state)
      hasher.update(part)
      state = hasher.save()
    }
    expect(sha.resume(state).digest()).toBe(reference(...parts))
  })

  it("refuses what is not a saved state", () => {
    const saved = sha.fresh().save()
    expect(() => sha.resume(new Uint8Array(0))).toThrow()
    expect(() => sha.resume(Uint8Array.of(2, ...saved.subarray(1)))).toThrow("not a saved SHA-256 state")
    const hasher = sha.fresh()
    hasher.update(Uint8Array.of(1, 2, 3))
    const three = hasher.save()
    expect(() => sha.resume(three.subarray(0, three.byteLength - 1))).toThrow("inconsistent SHA-256 state")
  })
})
