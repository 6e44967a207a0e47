/**
 * Progress of a transfer on stderr (stdout is kept for results such as file ids): a bar
 * redrawn in place when stderr is a terminal, otherwise a plain line every 10 % (or every
 * 15 s when it is slow), so that logs stay short.
 */
import { Clock, Effect, Schedule } from "effect"
import { formatBytes, formatDuration, formatRate } from "./Format"

export interface Progress {
  /** Counts `bytes` more as done. */
  readonly advance: (bytes: number) => Effect.Effect<void>
}

export interface ProgressOptions {
  /** What is moving, e.g. "upload" or "download". */
  readonly verb: string
  /** Which file, e.g. its name. */
  readonly label: string
  readonly total: number
  /** Bytes already done before this run (a resumed upload); they do not count for the speed. */
  readonly done?: number
  /** Without a terminal, print plain lines (true) or nothing (false, for short preliminary work). */
  readonly plain?: boolean
}

const REDRAW = "200 millis"
const PLAIN_STEPS = 10
const PLAIN_QUIET_MILLIS = 15_000

const write = (text: string) => Effect.sync(() => void process.stderr.write(text))

/** A line for the person watching, on stderr (uncoloured: Bun colours console.error on a terminal). */
export const note = (line: string): Effect.Effect<void> => write(`${line}\n`)

interface State {
  done: number
  readonly startDone: number
  readonly startedAt: number
  lastLineAt: number
  lastStep: number
}

const figures = (options: ProgressOptions, state: State, now: number) => {
  const percent = options.total === 0 ? 100 : Math.floor((state.done / options.total) * 100)
  const seconds = (now - state.startedAt) / 1000
  const rate = seconds > 0 ? (state.done - state.startDone) / seconds : 0
  const eta = rate > 0 ? formatDuration((options.total - state.done) / rate) : "--:--"
  return { percent, rate, eta }
}

const bar = (fraction: number, width: number) => {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${"=".repeat(filled)}${" ".repeat(width - filled)}]`
}

const terminalLine = (options: ProgressOptions, state: State, now: number) => {
  const { eta, percent, rate } = figures(options, state, now)
  const columns = process.stderr.columns > 0 ? process.stderr.columns : 80
  const tail = ` ${String(percent).padStart(3)}% ${formatBytes(state.done)}/${formatBytes(options.total)} ` +
    `${formatRate(rate)} ETA ${eta}`
  const width = columns >= 100 ? 30 : 20
  const room = Math.max(8, columns - tail.length - width - 4 - options.verb.length)
  const label = options.label.length > room ? `…${options.label.slice(-(room - 1))}` : options.label
  return `${options.verb} ${label} ${bar(options.total === 0 ? 1 : state.done / options.total, width)}${tail}`
    .slice(0, Math.max(1, columns - 1))
}

const plainLine = (options: ProgressOptions, state: State, now: number) => {
  const { eta, percent, rate } = figures(options, state, now)
  return `${options.verb} ${options.label}: ${percent}% (${formatBytes(state.done)} of ${formatBytes(options.total)}), ` +
    `${formatRate(rate)}, ETA ${eta}\n`
}

/** Runs `use` with a progress display that ends (on a line of its own) when `use` does. */
export const withProgress = <A, E, R>(
  options: ProgressOptions,
  use: (progress: Progress) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const done = options.done ?? 0
    const step = (bytes: number) => options.total === 0 ? PLAIN_STEPS : Math.floor((bytes / options.total) * PLAIN_STEPS)
    const state: State = { done, startDone: done, startedAt, lastLineAt: startedAt, lastStep: step(done) }

    if (process.stderr.isTTY === true) {
      const draw = Effect.flatMap(Clock.currentTimeMillis, (now) => write(`\r\x1b[K${terminalLine(options, state, now)}`))
      const progress: Progress = { advance: (bytes) => Effect.sync(() => void (state.done += bytes)) }
      return yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(Effect.repeat(draw, Schedule.spaced(REDRAW)))
        return yield* use(progress)
      })).pipe(Effect.ensuring(Effect.zipRight(draw, write("\n"))))
    }

    if (options.plain === false) return yield* use({ advance: () => Effect.void })
    const progress: Progress = {
      advance: (bytes) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          state.done += bytes
          const current = step(state.done)
          if (current <= state.lastStep && now - state.lastLineAt < PLAIN_QUIET_MILLIS) return Effect.void
          state.lastStep = current
          state.lastLineAt = now
          return write(plainLine(options, state, now))
        })
    }
    return yield* use(progress)
  })
