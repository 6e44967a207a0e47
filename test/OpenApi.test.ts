import { OpenApi } from "@effect/platform"
import { describe, expect, it } from "bun:test"
import { Api } from "../src/Api"

const spec = OpenApi.fromApi(Api) as unknown as {
  paths: Record<string, Record<string, {
    security?: Array<Record<string, Array<string>>>
    requestBody?: { content: Record<string, { schema: unknown }> }
    responses: Record<string, unknown>
  }>>
  components: { securitySchemes: Record<string, unknown> }
}

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

  it("documents the part body as raw binary, and bearer security", () => {
    const upload = spec.paths["/uploads/sessions/{id}/parts/{part_number}"]?.["put"]
    expect(upload?.requestBody?.content).toEqual({ "application/octet-stream": { schema: { type: "string", format: "binary" } } })
    expect(upload?.security).toEqual([{ bearer: [] }])
    expect(spec.components.securitySchemes["bearer"]).toMatchObject({ type: "http", scheme: "bearer" })
    expect(spec.paths["/health"]?.["get"]?.security).toEqual([])
  })
})
