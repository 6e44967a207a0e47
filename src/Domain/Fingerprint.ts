/** A stable digest of a request, so a replayed Idempotency-Key can be told from a reused one. */

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)])
    )
  }
  return value
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value))

export const fingerprint = (value: unknown): string =>
  new Bun.CryptoHasher("sha256").update(canonicalJson(value)).digest("hex")
