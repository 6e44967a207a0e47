/**
 * Keyset pagination, newest (or oldest) first by id: ask the database for one row more than the
 * page; if it came, the page's last row is where the next page starts.
 */
import { Schema } from "effect"

export const DEFAULT_PAGE_SIZE = 50

export const PageLimit = Schema.NumberFromString.pipe(
  Schema.int(),
  Schema.between(1, 200),
  Schema.annotations({
    description: `Page size, 1 to 200 (default ${DEFAULT_PAGE_SIZE})`,
    // a query string carries it as text; clients send it as the integer it decodes to
    jsonSchema: {
      type: "integer",
      minimum: 1,
      maximum: 200,
      default: DEFAULT_PAGE_SIZE,
      description: `Page size, 1 to 200 (default ${DEFAULT_PAGE_SIZE})`
    }
  })
)

export const pageSize = (limit: number | undefined): number => limit ?? DEFAULT_PAGE_SIZE

/** How many rows to fetch for a page of `size`. */
export const rowsToFetch = (size: number): number => size + 1

export const toPage = <A>(rows: ReadonlyArray<A>, size: number, cursorOf: (row: A) => string) => {
  const items = rows.slice(0, size)
  const last = items[items.length - 1]
  return { items, next_cursor: rows.length > size && last !== undefined ? cursorOf(last) : null }
}
