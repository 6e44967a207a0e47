/** Pure helpers for downloads: byte ranges (RFC 9110 §14) and Content-Disposition (RFC 6266). */

export type RangeDecision =
  | { readonly _tag: "Full" }
  | { readonly _tag: "Partial"; readonly offset: number; readonly length: number }
  | { readonly _tag: "Unsatisfiable" }

const SINGLE = /^bytes=(\d*)-(\d*)$/

/**
 * What to send for a `Range` header on a representation of `size` bytes. Only single
 * ranges are served; several ranges, other units or bad syntax fall back to the whole
 * file, which RFC 9110 allows.
 */
export const decideRange = (header: string | undefined, size: number): RangeDecision => {
  if (header === undefined) return { _tag: "Full" }
  const match = SINGLE.exec(header.trim().replace(/\s+/g, ""))
  if (match === null) return { _tag: "Full" }
  const [, first = "", last = ""] = match
  if (first === "" && last === "") return { _tag: "Full" }
  if (first === "") {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { _tag: "Unsatisfiable" }
    const length = Math.min(suffix, size)
    return { _tag: "Partial", offset: size - length, length }
  }
  const offset = Number(first)
  if (offset >= size) return { _tag: "Unsatisfiable" }
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1)
  if (end < offset) return { _tag: "Full" }
  return { _tag: "Partial", offset, length: end - offset + 1 }
}

/** RFC 8187 attr-char: everything else is percent-encoded in filename*. */
const encodeExtValue = (value: string) =>
  encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * `attachment; filename="<ascii>"; filename*=UTF-8''<utf-8>`: old clients read the ASCII
 * fallback, current ones the exact name; quotes, backslashes and controls cannot break out.
 */
export const contentDisposition = (filename: string): string => {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_")
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeExtValue(filename)}`
}

/** If-None-Match: a list such as `"a", W/"b"` or `*`, compared weakly (RFC 9110 §13.1.2). */
export const etagMatches = (header: string | undefined, etag: string): boolean =>
  header !== undefined &&
  header.split(",").map((tag) => tag.trim()).some((tag) => tag === "*" || tag === etag || tag === `W/${etag}`)

/** If-Range: one entity tag, compared strongly (RFC 9110 §13.1.5): a weak tag never matches. */
export const ifRangeMatches = (header: string, etag: string): boolean => header.trim() === etag
