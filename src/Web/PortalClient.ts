/**
 * The public API as the upload page uses it: a bearer token on every request, JSON answers
 * checked for the fields the page reads, and every error answer (`{_tag, message, ...}`)
 * raised as an ApiError carrying the server's message.
 */

export class ApiError extends Error {
  constructor(readonly status: number, readonly tag: string, message: string) {
    super(message)
  }
}

/** Inclusive part numbers, as the API lists received and missing parts: `[[1, 3], [7, 7]]`. */
export type PartRange = readonly [first: number, last: number]

export interface FileView {
  readonly id: string
  readonly status: string
  readonly sha256: string | null
}

export interface SessionView {
  readonly id: string
  readonly status: string
  readonly expired: boolean
  readonly chunk_size_bytes: number
  readonly received_bytes: number
  readonly part_url_template: string
  readonly missing_parts: ReadonlyArray<PartRange>
  readonly file: FileView
}

/** Open sessions accept parts until they expire. */
export const isResumable = (session: SessionView): boolean =>
  (session.status === "INIT" || session.status === "IN_PROGRESS") && !session.expired

export const partNumbers = (ranges: ReadonlyArray<PartRange>): Array<number> =>
  ranges.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, index) => first + index))

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const unexpected = (what: string): never => {
  throw new ApiError(0, "UnexpectedAnswer", `unexpected answer from the server: ${what}`)
}

const recordOf = (value: unknown, what: string): Record<string, unknown> => isRecord(value) ? value : unexpected(what)

const stringOf = (record: Record<string, unknown>, key: string): string => {
  const value = record[key]
  return typeof value === "string" ? value : unexpected(`${key} is not a string`)
}

const numberOf = (record: Record<string, unknown>, key: string): number => {
  const value = record[key]
  return typeof value === "number" ? value : unexpected(`${key} is not a number`)
}

const rangesOf = (record: Record<string, unknown>, key: string): Array<PartRange> => {
  const value: unknown = record[key]
  if (!Array.isArray(value)) return unexpected(`${key} is not a list`)
  return value.map((range: unknown): PartRange => {
    const [first, last]: ReadonlyArray<unknown> = Array.isArray(range) ? range : []
    return typeof first === "number" && typeof last === "number" ? [first, last] : unexpected(`${key} has a bad range`)
  })
}

const readFile = (value: unknown): FileView => {
  const file = recordOf(value, "file is not an object")
  const sha256 = file["sha256"]
  return { id: stringOf(file, "id"), status: stringOf(file, "status"), sha256: typeof sha256 === "string" ? sha256 : null }
}

const readSession = (value: unknown): SessionView => {
  const session = recordOf(value, "the session is not an object")
  const expired = session["expired"]
  return {
    id: stringOf(session, "id"),
    status: stringOf(session, "status"),
    expired: typeof expired === "boolean" ? expired : unexpected("expired is not a boolean"),
    chunk_size_bytes: numberOf(session, "chunk_size_bytes"),
    received_bytes: numberOf(session, "received_bytes"),
    part_url_template: stringOf(session, "part_url_template"),
    missing_parts: rangesOf(session, "missing_parts"),
    file: readFile(session["file"])
  }
}

interface RequestOptions {
  readonly json?: unknown
  readonly body?: Blob
  readonly headers?: Record<string, string>
  readonly signal?: AbortSignal
}

export const makeClient = (token: string) => {
  const send = async (method: string, path: string, options: RequestOptions = {}): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...options.headers }
    if (options.json !== undefined) headers["content-type"] = "application/json"
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body
    const response = await fetch(path, { method, headers, body: body ?? null, signal: options.signal ?? null })
    if (response.ok) return response
    const answer: unknown = await response.json().catch(() => undefined)
    const tag = isRecord(answer) && typeof answer["_tag"] === "string" ? answer["_tag"] : "HttpError"
    const message = isRecord(answer) && typeof answer["message"] === "string" ? answer["message"] : response.statusText
    throw new ApiError(response.status, tag, message || `HTTP ${response.status}`)
  }
  const json = async (method: string, path: string, options: RequestOptions = {}): Promise<unknown> =>
    (await send(method, path, options)).json()

  return {
    createSession: async (file: File, idempotencyKey: string, signal: AbortSignal): Promise<SessionView> =>
      readSession(
        await json("POST", "/uploads/sessions", {
          json: {
            filename: file.name,
            content_type: file.type === "" ? "application/octet-stream" : file.type,
            total_size_bytes: file.size
          },
          headers: { "idempotency-key": idempotencyKey },
          signal
        })
      ),
    getSession: async (id: string, signal: AbortSignal): Promise<SessionView> =>
      readSession(await json("GET", `/uploads/sessions/${id}`, { signal })),
    /** Sends one part; with its hex SHA-256 the server verifies the bytes it received. */
    putPart: async (
      session: SessionView,
      partNumber: number,
      bytes: Blob,
      sha256: string | undefined,
      signal: AbortSignal
    ): Promise<void> => {
      const path = session.part_url_template.replace("{part_number}", String(partNumber))
      const headers: Record<string, string> = sha256 === undefined ? {} : { "x-part-sha256": sha256 }
      await send("PUT", path, { body: bytes, headers, signal })
    },
    complete: async (id: string, signal: AbortSignal): Promise<SessionView> =>
      readSession(await json("POST", `/uploads/sessions/${id}/complete`, { json: {}, signal })),
    abort: async (id: string): Promise<void> => {
      await send("DELETE", `/uploads/sessions/${id}`)
    },
    /** The whole file in memory: the download needs the bearer token, so it cannot be a plain link. */
    download: async (fileId: string): Promise<Blob> => (await send("GET", `/files/${fileId}/content`)).blob()
  }
}

export type PortalClient = ReturnType<typeof makeClient>
