/**
 * The README's embedding program (examples/embed-client.ts): the typed HttpApiClient over
 * FetchHttpClient with a bearer token uploads a file that comes back STORED with its SHA-256,
 * called from an Effect program and run from the command line as the README shows.
 */
import { FetchHttpClient } from "@effect/platform"
import { BunContext } from "@effect/platform-bun"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { uploadFile } from "../examples/embed-client"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let token: string
let dir: string

beforeAll(async () => {
  app = await startTestApp()
  token = (await app.createUser()).token
  dir = await mkdtemp(join(tmpdir(), "embed-client-"))
})

afterAll(async () => {
  await app.close()
  await rm(dir, { recursive: true, force: true })
})

describe("the embedding example", () => {
  it("is shown in README.md as it is", async () => {
    const readme = await Bun.file(join(import.meta.dir, "..", "README.md")).text()
    const program = await Bun.file(join(import.meta.dir, "..", "examples", "embed-client.ts")).text()
    expect(readme).toContain("```ts\n" + program + "```")
  })

  it("uploads a file in parts with the typed client and reads it back STORED with its SHA-256", async () => {
    const data = bytes(100, 7)
    const path = join(dir, "report.bin")
    await Bun.write(path, data)
    const settings = ConfigProvider.fromMap(new Map([["PORTAL_URL", app.baseUrl], ["PORTAL_TOKEN", token]]))
    const file = await uploadFile(path).pipe(
      Effect.provide(Layer.merge(FetchHttpClient.layer, BunContext.layer)),
      Effect.withConfigProvider(settings),
      Effect.runPromise
    )
    expect(file.status).toBe("STORED")
    expect(file.original_filename).toBe("report.bin")
    expect(Option.getOrNull(file.sha256)).toBe(sha256Hex(data))
    // 100 bytes in the test server's default 16-byte chunks: seven parts
    const [session] = await app.sql("SELECT total_parts FROM upload_sessions WHERE file_id = $1", [file.id])
    expect(session?.["total_parts"]).toBe(7)
  })

  it("runs from the command line as the README shows, printing the stored file", async () => {
    const data = bytes(40, 8)
    const path = join(dir, "notes.bin")
    await Bun.write(path, data)
    // asynchronously: the server it talks to runs in this process
    const run = Bun.spawn([process.execPath, "examples/embed-client.ts", path], {
      cwd: join(import.meta.dir, ".."),
      env: { ...process.env, PORTAL_URL: app.baseUrl, PORTAL_TOKEN: token },
      stdout: "pipe",
      stderr: "pipe"
    })
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(run.stdout).text(),
      new Response(run.stderr).text(),
      run.exited
    ])
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: "" })
    expect(stdout).toMatch(new RegExp(`^[0-9a-f-]{36} STORED sha256=${sha256Hex(data)}\\n$`))
  })
})
