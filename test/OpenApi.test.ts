import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "bun:test"
import { Api } from "../src/Api"
import { examples } from "../src/ApiDocs/Examples"

type Media = { schema?: any; example?: unknown }

const spec = OpenApi.fromApi(Api) as unknown as {
  paths: Record<string, Record<string, {
    operationId: string
    summary?: string
    description?: string
    parameters: Array<{ name: string; schema: unknown }>
    security?: Array<Record<string, Array<string>>>
    requestBody?: { content: Record<string, Media> }
    responses: Record<string, { description: string; content?: Record<string, Media> }>
  }>>
  components: { schemas: Record<string, any>; securitySchemes: Record<string, unknown> }
  servers?: Array<{ url: string; description?: string }>
  tags: Array<{ name: string; description?: string }>
}

const operations = Object.values(spec.paths).flatMap((methods) => Object.values(methods))
const parameter = (path: string, method: string, name: string) =>
  spec.paths[path]?.[method]?.parameters.find((p) => p.name === name)?.schema

const statuses = (path: string, method: string) => Object.keys(spec.paths[path]?.[method]?.responses ?? {}).sort()

describe("the OpenAPI document", () => {
  it("documents every endpoint", () => {
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    expect(operations.sort()).toEqual([
      "DELETE /admin/tokens/{id}",
      "DELETE /uploads/sessions/{id}",
      "GET /admin/outbox",
      "GET /admin/users",
      "GET /admin/users/{id}/tokens",
      "GET /batches",
      "GET /batches/{id}",
      "GET /batches/{id}/files",
      "GET /files/{id}",
      "GET /files/{id}/content",
      "GET /health",
      "GET /me",
      "GET /quota",
      "GET /uploads/sessions",
      "GET /uploads/sessions/{id}",
      "PATCH /admin/users/{id}",
      "POST /admin/outbox/{id}/retry",
      "POST /admin/sweep",
      "POST /admin/users",
      "POST /admin/users/{id}/tokens",
      "POST /batches",
      "POST /uploads/sessions",
      "POST /uploads/sessions/{id}/complete",
      "PUT /uploads/sessions/{id}/parts/{part_number}"
    ])
  })

  it("documents the errors of each endpoint with their statuses", () => {
    expect(statuses("/uploads/sessions", "post")).toEqual(["200", "201", "400", "401", "403", "404", "409", "413", "415", "429", "500", "503"])
    expect(statuses("/uploads/sessions/{id}/parts/{part_number}", "put")).toEqual(["200", "400", "401", "403", "404", "408", "409", "410", "413", "422", "429", "500", "503"])
    expect(statuses("/uploads/sessions/{id}/complete", "post")).toEqual(["200", "400", "401", "403", "404", "409", "410", "413", "422", "500", "503"])
    expect(statuses("/files/{id}/content", "get")).toEqual(["200", "206", "304", "400", "401", "403", "404", "409", "413", "416", "500", "503"])
    expect(statuses("/health", "get")).toEqual(["200", "400", "413", "500", "503"])
    expect(statuses("/batches/{id}", "get")).toEqual(["200", "400", "401", "403", "404", "413", "500", "503"])
    expect(statuses("/admin/sweep", "post")).toEqual(["200", "400", "401", "403", "413", "500", "503"])
    expect(statuses("/admin/outbox/{id}/retry", "post")).toEqual(["200", "400", "401", "403", "404", "409", "413", "500", "503"])
  })

  it("documents the part body as raw bytes (OpenAPI 3.1: no schema), and bearer security", () => {
    const upload = spec.paths["/uploads/sessions/{id}/parts/{part_number}"]?.["put"]
    // `type: string, format: binary` made generated clients type the body as a string
    expect(upload?.requestBody?.content).toEqual({ "application/octet-stream": {} })
    expect(upload?.security).toEqual([{ bearer: [] }])
    expect(spec.components.securitySchemes["bearer"]).toMatchObject({ type: "http", scheme: "bearer" })
    expect(spec.paths["/health"]?.["get"]?.security).toEqual([])
  })

  it("types path and query numbers as integers, and sizes and counts too", () => {
    expect(parameter("/uploads/sessions/{id}/parts/{part_number}", "put", "part_number")).toMatchObject({
      type: "integer",
      minimum: 1
    })
    expect(parameter("/uploads/sessions", "get", "limit")).toMatchObject({ type: "integer", minimum: 1, maximum: 200 })
    const receipt = spec.components.schemas["PartReceipt"].properties
    for (const field of ["part_number", "size_bytes", "received_parts_count", "received_bytes", "total_parts"]) {
      expect(receipt[field].type).toBe("integer")
    }
    expect(spec.components.schemas["Quota"].properties.remaining_bytes.type).toBe("integer")
  })

  it("lists every error of a status in a oneOf keyed by _tag", () => {
    const conflict = spec.paths["/uploads/sessions/{id}/parts/{part_number}"]?.["put"]?.responses["409"]
    const schema = conflict?.content?.["application/json"]?.schema
    expect(schema.oneOf.map((member: { $ref: string }) => member.$ref.split("/").pop())).toEqual([
      "SessionNotWritable",
      "PartConflict",
      "PartInProgress"
    ])
    expect(schema.discriminator).toEqual({
      propertyName: "_tag",
      mapping: {
        SessionNotWritable: "#/components/schemas/SessionNotWritable",
        PartConflict: "#/components/schemas/PartConflict",
        PartInProgress: "#/components/schemas/PartInProgress"
      }
    })
    expect(conflict?.description).toContain("`PartInProgress`: Another upload of this part is still in progress")
    expect(spec.components.schemas["PartConflict"].properties._tag).toEqual({ type: "string", enum: ["PartConflict"] })
    for (const operation of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) >= 400) expect(response.content?.["application/json"]?.schema.anyOf).toBeUndefined()
      }
    }
  })

  it("carries no generated noise: no filter titles, no Effect component names or default descriptions", () => {
    const noise: Array<string> = []
    const visit = (node: unknown, at: string) => {
      if (Array.isArray(node)) return node.forEach((item, i) => visit(item, `${at}/${i}`))
      if (typeof node !== "object" || node === null) return
      const record = node as Record<string, unknown>
      if (at !== "/info" && typeof record["title"] === "string") noise.push(`${at}: title ${record["title"]}`)
      if (typeof record["description"] === "string" && /^an? [a-z]/.test(record["description"])) {
        noise.push(`${at}: ${record["description"]}`)
      }
      for (const [key, value] of Object.entries(record)) visit(value, `${at}/${key}`)
    }
    visit(spec, "")
    expect(noise).toEqual([])
    for (const name of ["Int", "NonNegativeInt", "Lowercase", "DateTimeUtc", "UUID"]) {
      expect(Object.keys(spec.components.schemas)).not.toContain(name)
    }
  })

  it("names, describes and illustrates every operation, describes every tag and has a server", () => {
    for (const operation of operations) {
      expect(operation.operationId).toMatch(/^[a-z][A-Za-z]+$/)
      expect([typeof operation.summary, typeof operation.description]).toEqual(["string", "string"])
      const media = [
        ...Object.values(operation.requestBody?.content ?? {}),
        ...Object.values(operation.responses).flatMap((response) => Object.values(response.content ?? {}))
      ]
      const illustrated = media.some((m) => m.example !== undefined)
      expect({ [operation.operationId]: illustrated }).toEqual({ [operation.operationId]: true })
    }
    expect(Object.keys(examples).sort()).toEqual(operations.map((operation) => operation.operationId).sort())
    expect(spec.tags.filter((tag) => tag.description === undefined)).toEqual([])
    expect(spec.servers).toEqual([{ url: "/", description: "The server that serves this document" }])
  })
})
