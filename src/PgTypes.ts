/** How rows come back from PostgreSQL, the same from a server and from the embedded database. */
import pg from "pg"

const INT8_OID = 20
const TIMESTAMPTZ_OID = 1184

const parseTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ_OID, "text")

/**
 * Row values as the domain schemas expect them: int8 as a number (sizes stay far below 2^53)
 * and timestamptz as an ISO-8601 string, so one `Schema.DateTimeUtc` decodes rows and JSON alike.
 */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8_OID) return (value: string) => Number(value)
    if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(parseTimestamptz(value)).toISOString()
    return pg.types.getTypeParser(oid, format)
  }) as typeof pg.types.getTypeParser
}
