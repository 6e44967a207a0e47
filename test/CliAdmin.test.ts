/** The operator listings, run as a user would run them: `bun src/cli.ts users list`, `tokens list <user>`. */
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
  return { stdout, stderr, code, lines: stdout.trimEnd().split("\n"), lastLine: stdout.trimEnd().split("\n").at(-1) ?? "" }
}

/** Where each header title starts: every row's cells start at the same columns. */
const columnStarts = (header: string, titles: ReadonlyArray<string>) => titles.map((title) => header.indexOf(title))

const cellsAt = (line: string, starts: ReadonlyArray<number>) =>
  starts.map((start, i) => line.slice(start, starts[i + 1] ?? line.length).trim())

describe("bun run cli users list / tokens list", () => {
  const secrets: Array<string> = []
  let revokedId = ""

  beforeAll(async () => {
    const admin = await cli("users", "create", "root-operator", "--admin", "--quota", "1000")
    const alice = await cli("users", "create", "alice smith", "--quota", "20")
    const ci = await cli("tokens", "issue", "alice smith", "--label", "ci runner")
    for (const result of [admin, alice, ci]) {
      expect(result.code).toBe(0)
      secrets.push(result.lastLine)
    }
    revokedId = /token ([0-9a-f-]{36})/.exec(ci.stdout)?.[1] ?? ""
    expect((await cli("tokens", "revoke", revokedId)).code).toBe(0)
  })

  it("lists every user in aligned columns, newest first, without secrets", async () => {
    const result = await cli("users", "list")
    expect(result.code).toBe(0)
    const [header = "", ...rows] = result.lines
    const titles = ["ID", "ADMIN", "QUOTA_BYTES", "CREATED_AT", "NAME"]
    expect(header.split(/\s+/)).toEqual(titles)
    const starts = columnStarts(header, titles)
    const [alice, operator] = rows.map((row) => cellsAt(row, starts))
    expect(rows).toHaveLength(2)
    const ids = await query<{ id: string; name: string }>(database.url, "SELECT id, name FROM users")
    const idOf = (name: string) => ids.find((user) => user.name === name)?.id
    expect(alice).toEqual([idOf("alice smith") ?? "", "no", "20", expect.stringMatching(/^\d{4}-\d\d-\d\dT/), "alice smith"])
    expect(operator).toEqual([idOf("root-operator") ?? "", "yes", "1000", expect.stringMatching(/^\d{4}-/), "root-operator"])
    for (const secret of secrets) expect(result.stdout).not.toContain(secret)
  })

  it("lists a user's tokens, revoked ones with when, without secrets", async () => {
    const result = await cli("tokens", "list", "alice smith")
    expect(result.code).toBe(0)
    const [header = "", ...rows] = result.lines
    const titles = ["ID", "CREATED_AT", "REVOKED_AT", "NAME"]
    expect(header.split(/\s+/)).toEqual(titles)
    const starts = columnStarts(header, titles)
    const [ci, first] = rows.map((row) => cellsAt(row, starts))
    expect(rows).toHaveLength(2)
    expect(ci).toEqual([revokedId, expect.stringMatching(/^\d{4}-/), expect.stringMatching(/^\d{4}-/), "ci runner"])
    expect(first?.slice(2)).toEqual(["-", "default"])
    for (const secret of secrets) expect(result.stdout).not.toContain(secret)
    expect(result.stdout).not.toContain("ipt_")
  })

  it("fails with a message for an unknown user", async () => {
    const result = await cli("tokens", "list", "nobody")
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("no user named")
  })
})
