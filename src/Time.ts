/** The current time from Effect's Clock, so tests can move it with TestClock. */
import { DateTime, Duration, Effect } from "effect"

export const currentDate: Effect.Effect<Date> = Effect.map(DateTime.now, DateTime.toDateUtc)

export const addDuration = (date: Date, duration: Duration.DurationInput): Date =>
  new Date(date.getTime() + Duration.toMillis(duration))
