/**
 * The tus 1.0.0 protocol as pure functions: what this server speaks, and reading and writing
 * its headers (Upload-Length and Upload-Offset, Upload-Metadata, Upload-Checksum,
 * Upload-Expires, the upload's URL). No I/O.
 */
import { DateTime, Either, Option } from "effect"
import { InvalidRequest } from "../Domain/Errors"
import { ChecksumAlgorithmUnsupported } from "./Errors"

export const TUS_VERSION = "1.0.0"

/** Concatenation and creation-defer-length are not among them: see README, "tus". */
export const TUS_EXTENSIONS = ["creation", "creation-with-upload", "termination", "expiration", "checksum"] as const

export const CHECKSUM_ALGORITHMS = ["sha1", "sha256"] as const
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number]

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { sha1: 20, sha256: 32 }

export const OFFSET_STREAM = "application/offset+octet-stream"

/** `application/offset+octet-stream`, whatever its case and parameters. */
export const isOffsetStream = (contentType: string | undefined): boolean =>
  (contentType ?? "").split(";")[0]?.trim().toLowerCase() === OFFSET_STREAM

const invalid = (message: string) => new InvalidRequest({ message })

/** A byte count header (Upload-Length, Upload-Offset): None when absent. */
export const byteCount = (name: string, value: string | undefined): Either.Either<Option.Option<number>, InvalidRequest> => {
  if (value === undefined) return Either.right(Option.none())
  const text = value.trim()
  const count = Number(text)
  return /^\d{1,16}$/.test(text) && Number.isSafeInteger(count)
    ? Either.right(Option.some(count))
    : Either.left(invalid(`${name} must be a number of bytes, not ${JSON.stringify(value.slice(0, 40))}`))
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const fromBase64 = (text: string): Option.Option<Uint8Array> =>
  BASE64.test(text) ? Option.some(Buffer.from(text, "base64")) : Option.none()

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** A metadata key: printable ASCII without spaces and commas (tus 1.0.0, Upload-Metadata). */
const METADATA_KEY = /^[!-+\--~]+$/

/** `filename ZmlsZS50eHQ=,private` → { filename: "file.txt", private: "" }; values must be UTF-8 text. */
export const parseMetadata = (header: string | undefined): Either.Either<Record<string, string>, InvalidRequest> => {
  const pairs: Record<string, string> = {}
  if (header === undefined || header.trim() === "") return Either.right(pairs)
  for (const pair of header.split(",")) {
    const [key = "", value, ...rest] = pair.trim().split(/ +/)
    if (!METADATA_KEY.test(key) || rest.length > 0) {
      return Either.left(invalid("Upload-Metadata must be comma-separated pairs of a key and a base64 value"))
    }
    // a JavaScript object would drop the key silently: refused, as the API refuses it in metadata
    if (key === "__proto__") return Either.left(invalid("Upload-Metadata keys may not be __proto__"))
    if (Object.hasOwn(pairs, key)) return Either.left(invalid(`Upload-Metadata names ${JSON.stringify(key)} twice`))
    const bytes = fromBase64(value ?? "")
    if (Option.isNone(bytes)) return Either.left(invalid(`the Upload-Metadata value of ${JSON.stringify(key)} is not base64`))
    try {
      pairs[key] = utf8.decode(bytes.value)
    } catch {
      return Either.left(invalid(`the Upload-Metadata value of ${JSON.stringify(key)} is not UTF-8 text`))
    }
  }
  return Either.right(pairs)
}

/** The text values of `metadata` as an Upload-Metadata header, None when there are none. */
export const encodeMetadata = (metadata: Readonly<Record<string, unknown>>): Option.Option<string> => {
  const pairs = Object.entries(metadata).flatMap(([key, value]) =>
    typeof value === "string" && METADATA_KEY.test(key)
      ? [value === "" ? key : `${key} ${Buffer.from(value, "utf8").toString("base64")}`]
      : []
  )
  return pairs.length === 0 ? Option.none() : Option.some(pairs.join(","))
}

export interface DeclaredChecksum {
  readonly algorithm: ChecksumAlgorithm
  readonly digest: Uint8Array
}

const isAlgorithm = (name: string): name is ChecksumAlgorithm => CHECKSUM_ALGORITHMS.some((known) => known === name)

/** `Upload-Checksum: sha1 <base64>`; an unknown algorithm is 400 ChecksumAlgorithmUnsupported. */
export const parseChecksum = (
  header: string | undefined
): Either.Either<Option.Option<DeclaredChecksum>, InvalidRequest | ChecksumAlgorithmUnsupported> => {
  if (header === undefined) return Either.right(Option.none())
  const [name = "", encoded = "", ...rest] = header.trim().split(/ +/)
  const algorithm = name.toLowerCase()
  if (!isAlgorithm(algorithm)) {
    return Either.left(
      new ChecksumAlgorithmUnsupported({
        message: `Upload-Checksum algorithm ${JSON.stringify(name.slice(0, 20))} is not supported; use sha1 or sha256`,
        algorithm: name.slice(0, 20),
        supported: [...CHECKSUM_ALGORITHMS]
      })
    )
  }
  const digest = fromBase64(encoded)
  if (rest.length > 0 || Option.isNone(digest) || digest.value.byteLength !== DIGEST_BYTES[algorithm]) {
    return Either.left(invalid(`Upload-Checksum must be "${algorithm} <base64 of the ${DIGEST_BYTES[algorithm]}-byte digest>"`))
  }
  return Either.right(Option.some({ algorithm, digest: digest.value }))
}

/** RFC 7231 IMF-fixdate, as Upload-Expires wants it: `Sun, 06 Nov 1994 08:49:37 GMT`. */
export const httpDate = (time: DateTime.Utc): string => new Date(DateTime.toEpochMillis(time)).toUTCString()

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

const first = (value: string | undefined): string | undefined => value?.split(",")[0]?.trim()

/**
 * The URL of an upload, absolute when the request says where it was sent (behind a proxy:
 * X-Forwarded-Proto and X-Forwarded-Host), else relative, which tus clients resolve against
 * their endpoint.
 */
export const uploadUrl = (headers: Readonly<Record<string, string | undefined>>, id: string): string => {
  const path = `/tus/${id}`
  const host = first(headers["x-forwarded-host"]) ?? headers["host"]
  if (host === undefined || !HOST.test(host)) return path
  const proto = first(headers["x-forwarded-proto"])?.toLowerCase()
  return `${proto === "https" ? "https" : "http"}://${host}${path}`
}
