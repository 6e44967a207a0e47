/**
 * @effect/cli renders help and argument errors with ANSI styles whatever the output is; this
 * console removes them from what goes to a stream that is not a terminal (or when NO_COLOR is
 * set), so `--help | less` and logs show plain text.
 */
import { Console, Effect } from "effect"

// CSI sequences (colours, bold, cursor moves) and OSC sequences (hyperlinks, titles)
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g

const strip = (value: unknown): unknown => typeof value === "string" ? value.replace(ANSI, "") : value

const plainWhen = (plain: boolean, write: (...args: ReadonlyArray<unknown>) => void) =>
  plain ? (...args: ReadonlyArray<unknown>) => write(...args.map(strip)) : write

const plainConsole = (base: Console.Console): Console.Console => {
  const noColor = (process.env["NO_COLOR"] ?? "") !== ""
  const stdoutPlain = noColor || process.stdout.isTTY !== true
  const stderrPlain = noColor || process.stderr.isTTY !== true
  const unsafe: Console.UnsafeConsole = {
    ...base.unsafe,
    log: plainWhen(stdoutPlain, (...args) => base.unsafe.log(...args)),
    info: plainWhen(stdoutPlain, (...args) => base.unsafe.info(...args)),
    error: plainWhen(stderrPlain, (...args) => base.unsafe.error(...args)),
    warn: plainWhen(stderrPlain, (...args) => base.unsafe.warn(...args))
  }
  return {
    ...base,
    log: (...args) => Effect.sync(() => unsafe.log(...args)),
    info: (...args) => Effect.sync(() => unsafe.info(...args)),
    error: (...args) => Effect.sync(() => unsafe.error(...args)),
    warn: (...args) => Effect.sync(() => unsafe.warn(...args)),
    unsafe
  }
}

/** Runs `effect` with a console that writes no ANSI escapes to a stream that is not a terminal. */
export const withPlainConsole = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.console, (base) => Effect.withConsole(effect, plainConsole(base)))
