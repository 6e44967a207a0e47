/**
 * A PostgreSQL database of its own for each test file, created on the local server and
 * dropped afterwards. TEST_DATABASE_URL (set by .ci/run) names the server and the database
 * to connect to for CREATE DATABASE; the default is the local trust-auth superuser.
 */
import pg from "pg"
import { pgTypes } from "../../src/PgTypes"

export const adminUrl = process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres"

const withAdmin = async <A>(run: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

export interface TestDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

export const createTestDatabase = async (): Promise<TestDatabase> => {
  const name = `portal_test_${Bun.randomUUIDv7().replaceAll("-", "").slice(-20)}`
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined)
  }
}

/** Runs one query against a test database outside the application (to inspect or arrange state). */
export const query = async <Row extends Record<string, unknown> = Record<string, unknown>>(
  url: string,
  text: string,
  values: ReadonlyArray<unknown> = []
): Promise<Array<Row>> => {
  const client = new pg.Client({ connectionString: url, types: pgTypes })
  await client.connect()
  try {
    return (await client.query<Row>(text, [...values])).rows
  } finally {
    await client.end()
  }
}
