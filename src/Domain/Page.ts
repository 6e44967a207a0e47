/**
 * Keyset pagination, newest (or oldest) first by id: ask the database for one row more than the
 * page; if it came, the page's last row is where the next page starts.
 */
import { Effect, Schema } from "effect"

const DEFAULT_PAGE_SIZE = 50

const PageLimit = Schema.NumberFromString.pipe(
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

/** The fields of a page of `item`s in a response: the items, and where the next page starts. */
export const pageOf = <Item extends Schema.Schema.Any>(item: Item) => ({
  items: Schema.Array(item),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
})

/** How every listing endpoint describes its pagination. */
export const PAGINATION = "Cursor pagination: pass next_cursor as ?cursor= until it is null."

/** A listing's query parameters: `cursor` (where the page starts) and `limit`. */
export const pageParams = <Cursor extends Schema.Schema.Any>(cursor: Cursor) => ({
  cursor: Schema.optional(cursor),
  limit: Schema.optional(PageLimit)
})

/** What a listing is asked for: where to start (the `next_cursor` of the page before) and how many. */
export interface PageRequest<Cursor> {
  readonly cursor?: Cursor | undefined
  readonly limit?: number | undefined
}

/** A page of at most `limit` rows (DEFAULT_PAGE_SIZE unless given); `fetch` is asked for one row more. */
export const fetchPage = <A, E, R>(
  limit: number | undefined,
  fetch: (rows: number) => Effect.Effect<ReadonlyArray<A>, E, R>,
  cursorOf: (row: A) => string
): Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly next_cursor: string | null }, E, R> => {
  const size = limit ?? DEFAULT_PAGE_SIZE
  return Effect.map(fetch(size + 1), (rows) => {
    const items = rows.slice(0, size)
    const last = items[items.length - 1]
    return { items, next_cursor: rows.length > size && last !== undefined ? cursorOf(last) : null }
  })
}
