/** Per-part checksum headers: RFC 9530 `Content-Digest: sha-256=:<base64>:` or a hex `X-Part-Sha256`. */
import { Either, Option } from "effect"

const HEX = /^[0-9a-fA-F]{64}$/
const MEMBER = /^([a-z][a-z0-9_.*-]*)=:([A-Za-z0-9+/]*={0,2}):$/

/**
 * The SHA-256 a `Content-Digest` header declares, as lowercase hex. Other algorithms are
 * ignored (RFC 9530 lets a recipient skip the ones it does not support); a malformed
 * header is an error.
 */
export const sha256FromContentDigest = (header: string): Either.Either<Option.Option<string>, string> => {
  let found = Option.none<string>()
  for (const raw of header.split(",")) {
    const member = raw.trim()
    const match = MEMBER.exec(member)
    if (match === null) return Either.left(`malformed Content-Digest member ${JSON.stringify(member.slice(0, 80))}`)
    if (match[1] === "sha-256") {
      const digest = Buffer.from(match[2] ?? "", "base64")
      if (digest.byteLength !== 32) return Either.left("Content-Digest sha-256 must be 32 bytes, base64-encoded")
      found = Option.some(digest.toString("hex"))
    }
  }
  return Either.right(found)
}

export const sha256FromHex = (header: string): Either.Either<string, string> =>
  HEX.test(header.trim())
    ? Either.right(header.trim().toLowerCase())
    : Either.left("X-Part-Sha256 must be 64 hexadecimal characters")

export const contentDigestOf = (sha256Hex: string): string =>
  `sha-256=:${Buffer.from(sha256Hex, "hex").toString("base64")}:`
