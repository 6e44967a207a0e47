/** The operator commands, run as a user would run them: `bun src/cli.ts …` against a real database. */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { createTestDatabase, query, type TestDatabase } from "./support/Database"

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database.drop())

const cli = async (...args: Array<string>) => {
  const child = Bun.spawn([process.execPath, "src/cli.ts", ...args], {
    cwd: new URL("..", import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: "error" },
    stdout: "pipe",
    stderr: "pipe"
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited
  ])
  return { stdout, stderr, code, lastLine: stdout.trimEnd().split("\n").at(-1) ?? "" }
}

describe("bun run cli", () => {
  it("migrates the database", async () => {
    const result = await cli("migrate")
    expect(result.code).toBe(0)
    const tables = await query(database.url, "SELECT count(*)::int AS n FROM portal_migrations")
    expect(tables[0]?.n).toBeGreaterThan(0)
  })

  it("creates a user with a quota and prints its token alone on the last line", async () => {
    const result = await cli("users", "create", "operator", "--admin", "--quota", "123456789")
    expect(result.code).toBe(0)
    expect(result.lastLine).toMatch(/^ipt_[A-Za-z0-9_-]{43}$/)
    const [user] = await query(database.url, "SELECT is_admin, quota_bytes FROM users WHERE name = 'operator'")
    expect(user).toEqual({ is_admin: true, quota_bytes: 123456789 })
  })

  it("issues and revokes tokens", async () => {
    const issued = await cli("tokens", "issue", "operator", "--label", "ci")
    expect(issued.code).toBe(0)
    expect(issued.lastLine).toMatch(/^ipt_/)
    const tokenId = /token ([0-9a-f-]{36})/.exec(issued.stdout)?.[1]
    expect(tokenId).toBeDefined()
    const revoked = await cli("tokens", "revoke", tokenId!)
    expect(revoked.code).toBe(0)
    const [row] = await query(database.url, "SELECT name, revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE id = $1", [tokenId])
    expect(row).toEqual({ name: "ci", revoked: true })
  })

  it("changes a user's quota", async () => {
    const result = await cli("users", "set-quota", "operator", "42")
    expect(result.code).toBe(0)
    const [user] = await query(database.url, "SELECT quota_bytes FROM users WHERE name = 'operator'")
    expect(user?.quota_bytes).toBe(42)
  })

  it("sweeps expired sessions on demand", async () => {
    const [owner] = await query(database.url, "SELECT id FROM users WHERE name = 'operator'")
    const file = Bun.randomUUIDv7()
    const session = Bun.randomUUIDv7()
    await query(
      database.url,
      `INSERT INTO files (id, status, original_filename, content_type, uploaded_by, created_at, updated_at)
       VALUES ($1, 'UPLOADING', 'a.bin', 'application/octet-stream', $2, now(), now())`,
      [file, owner?.id]
    )
    await query(
      database.url,
      `INSERT INTO upload_sessions (id, file_id, status, total_size_bytes, chunk_size_bytes, total_parts, expires_at, created_by, created_at, updated_at)
       VALUES ($1, $2, 'INIT', 10, 10, 1, now() - interval '1 minute', $3, now(), now())`,
      [session, file, owner?.id]
    )
    const result = await cli("sweep")
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("expired sessions ended: 1")
    const [row] = await query(database.url, "SELECT status, failure_reason FROM upload_sessions WHERE id = $1", [session])
    expect(row).toEqual({ status: "FAILED", failure_reason: "expired" })
  })

  it("fails with a message and a non-zero status on mistakes", async () => {
    const duplicate = await cli("users", "create", "operator")
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toContain("already exists")
    const unknown = await cli("tokens", "issue", "nobody")
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no user named")
    const badId = await cli("tokens", "revoke", "not-a-uuid")
    expect(badId.code).toBe(2)
  })
})
