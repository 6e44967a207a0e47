/**
 * Uploading a file with a client generated from /openapi.json: types from openapi-typescript
 * (`ingest-portal.d.ts` beside this file, see README "Generated clients") and openapi-fetch.
 * No casts: what each call takes and answers, errors included, is in the generated types.
 *
 *   PORTAL_URL=http://localhost:8000 PORTAL_TOKEN=ipt_… bun examples/generated-client/upload.ts <file>
 *
 * Running it again after an interruption resumes the same session (the Idempotency-Key comes
 * from the file's digest) and sends only the parts still missing.
 */
import createClient from "openapi-fetch"
import { readFile } from "node:fs/promises"
import { basename } from "node:path"
import type { paths } from "./ingest-portal"

const PARALLEL = 4

const hex = (digest: ArrayBuffer) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")

/** Part numbers of inclusive ranges: [[1, 2], [5, 5]] → 1, 2, 5. (openapi-fetch reads the pairs as number[].) */
const partNumbers = (ranges: ReadonlyArray<ReadonlyArray<number>>) =>
  ranges.flatMap(([first = 1, last = 0]) => Array.from({ length: last - first + 1 }, (_, i) => first + i))

export const uploadFile = async (options: {
  readonly baseUrl: string
  readonly token: string
  readonly filename: string
  readonly bytes: Uint8Array<ArrayBuffer>
  readonly chunkSize?: number
}) => {
  const client = createClient<paths>({ baseUrl: options.baseUrl, headers: { Authorization: `Bearer ${options.token}` } })
  const { bytes } = options
  const sha256 = hex(await crypto.subtle.digest("SHA-256", bytes))

  const created = await client.POST("/uploads/sessions", {
    params: { header: { "idempotency-key": `${sha256}-${bytes.byteLength}` } },
    body: {
      filename: options.filename,
      content_type: "application/octet-stream",
      total_size_bytes: bytes.byteLength,
      sha256,
      ...(options.chunkSize === undefined ? {} : { chunk_size_bytes: options.chunkSize })
    }
  })
  if (created.error) throw new Error(`${created.error._tag}: ${created.error.message}`)
  const session = created.data

  const sendPart = async (part_number: number): Promise<void> => {
    const start = (part_number - 1) * session.chunk_size_bytes
    const { error, response } = await client.PUT("/uploads/sessions/{id}/parts/{part_number}", {
      params: { path: { id: session.id, part_number } },
      body: bytes.subarray(start, Math.min(start + session.chunk_size_bytes, bytes.byteLength)),
      // the raw bytes as they are: openapi-fetch would send any other body as JSON
      bodySerializer: (body) => body,
      headers: { "Content-Type": "application/octet-stream" }
    })
    if (!error) return
    switch (error._tag) {
      case "PartInProgress": // another request is still sending this part: wait, then compare
      case "TooManyUploads": {
        const seconds = Number(response.headers.get("retry-after") ?? "1")
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
        return sendPart(part_number)
      }
      default:
        throw new Error(`part ${part_number}: ${error._tag}: ${error.message}`)
    }
  }

  const queue = partNumbers(session.missing_parts)
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await sendPart(next)
  }))

  const completed = await client.POST("/uploads/sessions/{id}/complete", { params: { path: { id: session.id } } })
  if (completed.error) throw new Error(`${completed.error._tag}: ${completed.error.message}`)
  const file = await client.GET("/files/{id}", { params: { path: { id: completed.data.file_id } } })
  if (file.error) throw new Error(`${file.error._tag}: ${file.error.message}`)
  return file.data
}

if (import.meta.main) {
  const path = process.argv[2]
  if (path === undefined) throw new Error("usage: upload.ts <file>")
  const file = await uploadFile({
    baseUrl: process.env["PORTAL_URL"] ?? "http://localhost:8000",
    token: process.env["PORTAL_TOKEN"] ?? "",
    filename: basename(path),
    bytes: new Uint8Array(await readFile(path))
  })
  console.log(`${file.id} ${file.status} sha256=${file.sha256}`)
}
