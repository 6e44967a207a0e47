/**
 * What the request log (RequestLog.ts) learns about a request while it runs, from code that
 * knows it: who it acts for (the authentication), how many bytes its body had when no
 * Content-Length said so (a part upload). One small mutable record per request, reached
 * through a FiberRef, so noting something is a field write and costs no query or lookup.
 */
import { Effect, FiberRef } from "effect"

export class RequestRecord {
  userId: string | undefined = undefined
  /** Bytes of the body counted as they were stored (a part, or several parts of a tus PATCH). */
  bytesCounted: number | undefined = undefined
  constructor(
    readonly requestId: string,
    readonly route: string,
    /** From Content-Length. */
    readonly bytesDeclared: number | undefined
  ) {}

  /** The body's size: as declared, else as counted. */
  get bytesIn(): number | undefined {
    return this.bytesDeclared ?? this.bytesCounted
  }
}

/** The request under way in this fiber, if any (none in the background: sweeper, relay). */
export const CurrentRequest: FiberRef.FiberRef<RequestRecord | undefined> = FiberRef.unsafeMake<
  RequestRecord | undefined
>(undefined)

const noting = (note: (record: RequestRecord) => void) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const record = fiber.getFiberRef(CurrentRequest)
    if (record !== undefined) note(record)
    return Effect.void
  })

/** The request acts for this user (called once the bearer token is verified). */
export const noteUser = (userId: string) => noting((record) => void (record.userId = userId))

/** This many more bytes of the request's body were read (and stored). */
export const noteBytesIn = (bytes: number) =>
  noting((record) => void (record.bytesCounted = (record.bytesCounted ?? 0) + bytes))
