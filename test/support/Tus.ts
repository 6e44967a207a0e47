/**
 * The real tus-js-client (Node build, running in Bun) against a test app: an upload as a
 * promise that also exposes the client, a URL storage in memory (what resuming from the
 * stored URL reads), one connection per request (so CuttingProxy counts one PATCH), and raw
 * tus requests for what the client never sends (bad versions, checksums, offsets).
 */
import * as http from "node:http"
import * as tus from "tus-js-client"
import type { TestApp } from "./TestApp"

export class MemoryUrlStorage implements tus.UrlStorage {
  private readonly uploads = new Map<string, tus.PreviousUpload & { readonly fingerprint: string }>()
  private next = 0

  findAllUploads = async () => [...this.uploads.values()]
  findUploadsByFingerprint = async (fingerprint: string) =>
    [...this.uploads.values()].filter((upload) => upload.fingerprint === fingerprint)
  removeUpload = async (key: string) => {
    this.uploads.delete(key)
  }
  addUpload = async (fingerprint: string, upload: tus.PreviousUpload) => {
    const key = `upload-${++this.next}`
    this.uploads.set(key, { ...upload, urlStorageKey: key, fingerprint })
    return key
  }
}

export interface Started {
  readonly upload: tus.Upload
  /** Resolves with the upload URL on success; rejects with the client's DetailedError. */
  readonly done: Promise<string>
  /** Upload-Offset of every PATCH the client sent, and the bytes each one carried once answered. */
  readonly patches: Array<{ readonly offset: number; sent: number }>
}

const separateConnections = () => new tus.DefaultHttpStack({ agent: new http.Agent({ keepAlive: false }) })

/** Starts an upload of `data` to `endpoint`/tus/ with `token`; no retries unless asked for. */
export const startUpload = (
  endpoint: string,
  token: string,
  data: Uint8Array,
  options: Partial<tus.UploadOptions> & { readonly previous?: tus.PreviousUpload } = {}
): Started => {
  const patches: Array<{ offset: number; sent: number }> = []
  let resolve: (url: string) => void = () => undefined
  let reject: (error: unknown) => void = () => undefined
  const done = new Promise<string>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  const { previous, ...rest } = options
  const upload: tus.Upload = new tus.Upload(Buffer.from(data), {
    endpoint: `${endpoint}/tus/`,
    headers: { authorization: `Bearer ${token}` },
    metadata: { filename: "data.bin", filetype: "application/octet-stream" },
    retryDelays: [],
    httpStack: separateConnections(),
    ...rest,
    onBeforeRequest: (request) => {
      if (request.getMethod() === "PATCH") patches.push({ offset: Number(request.getHeader("Upload-Offset")), sent: 0 })
      return rest.onBeforeRequest?.(request)
    },
    onChunkComplete: (chunkSize, accepted, total) => {
      const last = patches.at(-1)
      if (last !== undefined) last.sent = chunkSize
      rest.onChunkComplete?.(chunkSize, accepted, total)
    },
    onSuccess: (payload) => {
      rest.onSuccess?.(payload)
      resolve(upload.url ?? "")
    },
    onError: (error) => {
      rest.onError?.(error)
      reject(error)
    }
  })
  if (previous !== undefined) upload.resumeFromPreviousUpload(previous)
  upload.start()
  return { upload, done, patches }
}

/** What tus-js-client finds stored for `data` (by its fingerprint) when it is about to resume it. */
export const previousUploads = (endpoint: string, data: Uint8Array, options: Partial<tus.UploadOptions>) =>
  new tus.Upload(Buffer.from(data), { endpoint: `${endpoint}/tus/`, ...options }).findPreviousUploads()

/** Uploads `data` and resolves with its upload URL. */
export const uploadAll = (endpoint: string, token: string, data: Uint8Array, options: Partial<tus.UploadOptions> = {}) =>
  startUpload(endpoint, token, data, options).done

/** The session id at the end of an upload URL. */
export const idOf = (url: string) => url.slice(url.lastIndexOf("/") + 1)

/** The status the client's error reports (0 when the request got no answer). */
export const statusOf = (error: unknown): number =>
  error instanceof tus.DetailedError ? (error.originalResponse?.getStatus() ?? 0) : -1

/** A raw tus request, Tus-Resumable: 1.0.0 unless the headers say otherwise. */
export const tusRequest = (
  baseUrl: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly headers?: Record<string, string>; readonly body?: Uint8Array } = {}
) =>
  fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      "tus-resumable": "1.0.0",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers
    },
    ...(options.body === undefined ? {} : { body: options.body })
  })

/**
 * A PATCH whose body the test feeds (and may leave open): a client that sends some bytes,
 * then keeps the connection and sends nothing.
 */
export const streamingPatch = (baseUrl: string, token: string, id: string, offset: number) => {
  let feed: ReadableStreamDefaultController<Uint8Array> | undefined
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      feed = controller
    }
  })
  const reply = fetch(`${baseUrl}/tus/${id}`, {
    method: "PATCH",
    headers: {
      "tus-resumable": "1.0.0",
      authorization: `Bearer ${token}`,
      "content-type": "application/offset+octet-stream",
      "upload-offset": String(offset)
    },
    body
  })
  return {
    reply,
    send: (chunk: Uint8Array) => feed?.enqueue(chunk),
    end: () => feed?.close()
  }
}

/** Waits until a request holds the upload's writer lease: a PATCH is writing it. */
export const writing = async (app: TestApp, id: string) => {
  for (let i = 0; i < 2000; i++) {
    if ((await app.sql("SELECT 1 FROM tus_uploads WHERE session_id = $1 AND writer IS NOT NULL", [id])).length > 0) return
    await Bun.sleep(5)
  }
  throw new Error(`nothing is writing upload ${id}`)
}

/** Waits until no request holds the upload's writer lease: a broken-off PATCH has kept what it got. */
export const settled = async (app: TestApp, id: string) => {
  for (let i = 0; i < 2000; i++) {
    const rows = await app.sql("SELECT writer FROM tus_uploads WHERE session_id = $1", [id])
    if (rows.length > 0 && rows[0]?.["writer"] === null) return
    await Bun.sleep(5)
  }
  throw new Error(`upload ${id} is still being written`)
}

/** The offset HEAD reports. */
export const offsetOf = async (app: TestApp, token: string, id: string) => {
  const reply = await tusRequest(app.baseUrl, "HEAD", `/tus/${id}`, { token })
  return Number(reply.headers.get("upload-offset"))
}
