/**
 * An Effect program that uploads a file with the typed client derived from the contract
 * (`ingest-portal/api`): the same endpoints, payloads and errors the server is built from.
 *
 *   PORTAL_URL=http://localhost:8000 PORTAL_TOKEN=ipt_… bun examples/embed-client.ts <file>
 */
import { FetchHttpClient, FileSystem, HttpApiClient, HttpClient, HttpClientRequest, Path } from "@effect/platform"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Array, Config, Console, Effect, Layer, Option, Schedule } from "effect"
import { Api, partByteRange } from "ingest-portal/api"

const PortalClient = Effect.gen(function*() {
  const baseUrl = yield* Config.string("PORTAL_URL").pipe(Config.withDefault("http://localhost:8000"))
  const token = yield* Config.redacted("PORTAL_TOKEN")
  return yield* HttpApiClient.make(Api, {
    baseUrl,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })
})

export const uploadFile = (file: string) =>
  Effect.gen(function*() {
    const client = yield* PortalClient
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const bytes = yield* fs.readFile(file)

    const session = yield* client.sessions.create({
      headers: {},
      payload: {
        filename: path.basename(file),
        content_type: "application/octet-stream",
        total_size_bytes: bytes.byteLength
      }
    })
    yield* Effect.forEach(Array.range(1, session.total_parts), (part_number) => {
      const { offset, size } = partByteRange(session, part_number)
      return client.parts.upload({
        path: { id: session.id, part_number },
        headers: {},
        payload: bytes.subarray(offset, offset + size)
      }).pipe(
        // another request still holds the part, or too many are in flight: both pass
        Effect.retry({
          while: (error) => error._tag === "PartInProgress" || error._tag === "TooManyUploads",
          schedule: Schedule.spaced("1 second"),
          times: 30
        })
      )
    }, { concurrency: 4, discard: true })

    const completed = yield* client.sessions.complete({ path: { id: session.id }, payload: {} })
    return yield* client.files.get({ path: { id: completed.file_id } })
  })

if (import.meta.main) {
  const [file] = process.argv.slice(2)
  if (file === undefined) throw new Error("usage: bun examples/embed-client.ts <file>")
  uploadFile(file).pipe(
    Effect.tap((stored) => Console.log(`${stored.id} ${stored.status} sha256=${Option.getOrNull(stored.sha256)}`)),
    Effect.provide(Layer.merge(FetchHttpClient.layer, BunContext.layer)),
    BunRuntime.runMain
  )
}
