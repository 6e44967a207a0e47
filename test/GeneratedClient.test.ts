/**
 * The OpenAPI document as someone outside Effect meets it. `redocly lint` (redocly.yaml) finds
 * nothing in the served document; openapi-typescript generates types from it, and the client
 * program of the README (examples/generated-client/upload.ts) typechecks against them with no
 * casts and uploads a file through openapi-fetch. A document that types the part body or
 * part_number as a string, or loses an error of a status, fails the typecheck.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises"
import { join } from "node:path"
import openapiTS, { astToString } from "openapi-typescript"
import ts from "typescript"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const ROOT = join(import.meta.dir, "..")
const PROGRAM = join(ROOT, "examples", "generated-client", "upload.ts")

let app: TestApp
let token: string
/** Inside the repository, so that the program resolves openapi-fetch from its node_modules. */
let dir: string

beforeAll(async () => {
  app = await startTestApp()
  token = (await app.createUser()).token
  await mkdir(join(ROOT, "tmp"), { recursive: true })
  dir = await mkdtemp(join(ROOT, "tmp", "generated-client-"))
  const types = await openapiTS(new URL(`${app.baseUrl}/openapi.json`))
  await Bun.write(join(dir, "ingest-portal.d.ts"), astToString(types))
  await copyFile(PROGRAM, join(dir, "upload.ts"))
})

afterAll(async () => {
  await app.close()
  await rm(dir, { recursive: true, force: true })
})

const compilerOptions = () => {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, "tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })
  if (parsed === undefined) throw new Error("tsconfig.json did not parse")
  return parsed.options
}

/** Every `x as T`, `<T>x` and `x!` in a source file. */
const castsIn = (source: ts.SourceFile): Array<string> => {
  const found: Array<string> = []
  const visit = (node: ts.Node) => {
    if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node) || ts.isNonNullExpression(node)) {
      found.push(node.getText(source))
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe("a client generated from /openapi.json", () => {
  it("typechecks against the generated types, with no casts", () => {
    const program = ts.createProgram([join(dir, "upload.ts")], compilerOptions())
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) =>
      ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    )
    expect(problems).toEqual([])
    const source = program.getSourceFile(join(dir, "upload.ts"))
    expect(source === undefined ? ["no source"] : castsIn(source)).toEqual([])
  })

  it("uploads a file with openapi-fetch: raw bytes per part, stored with the file's SHA-256", async () => {
    const { uploadFile } = await import(join(dir, "upload.ts"))
    const data = bytes(70, 3)
    const file = await uploadFile({ baseUrl: app.baseUrl, token, filename: "scan.tiff", bytes: data, chunkSize: 16 })
    expect(file).toMatchObject({ status: "STORED", size_bytes: 70, sha256: sha256Hex(data), original_filename: "scan.tiff" })
    const content = await fetch(`${app.baseUrl}/files/${file.id}/content`, { headers: { authorization: `Bearer ${token}` } })
    expect(new Uint8Array(await content.arrayBuffer())).toEqual(data)
    const [session] = await app.sql(
      "SELECT total_parts, received_parts_count FROM upload_sessions WHERE file_id = $1",
      [file.id]
    )
    expect(session).toEqual({ total_parts: 5, received_parts_count: 5 })
  })

  it("passes redocly lint with no errors and no warnings", async () => {
    const lint = Bun.spawn(
      ["node_modules/.bin/redocly", "lint", `${app.baseUrl}/openapi.json`, "--config", "redocly.yaml", "--format", "json"],
      {
        cwd: ROOT,
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        stdout: "pipe",
        stderr: "pipe"
      }
    )
    const [output, exitCode] = await Promise.all([new Response(lint.stdout).text(), lint.exited])
    // JSON on stdout; stderr has Node's version notices
    const report: { totals: unknown; problems: Array<{ ruleId: string; message: string }> } = JSON.parse(output)
    expect(report.problems.map(({ ruleId, message }) => `${ruleId}: ${message}`)).toEqual([])
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 })
    expect(exitCode).toBe(0)
  })
})
