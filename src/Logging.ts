/**
 * Logs go to stderr (stdout is kept for what a person asked for, such as a new token), as
 * logfmt by default; LOG_FORMAT=json for collectors, pretty for a terminal; LOG_LEVEL=info.
 * Every line is scrubbed of the configured secrets before it is written.
 */
import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { redactorConfig } from "./Redaction"

const LEVELS: ReadonlyArray<LogLevel.LogLevel> = [
  LogLevel.All,
  LogLevel.Trace,
  LogLevel.Debug,
  LogLevel.Info,
  LogLevel.Warning,
  LogLevel.Error,
  LogLevel.Fatal,
  LogLevel.None
]

/** `warning`, `Warning`, `WARN` all work. */
const parseLevel = (raw: string) => {
  const wanted = raw.trim().toLowerCase()
  const level = LEVELS.find((candidate) =>
    candidate._tag.toLowerCase() === wanted || candidate.label.toLowerCase() === wanted
  )
  return level === undefined
    ? Either.left(ConfigError.InvalidData([], `expected one of ${LEVELS.map((l) => l._tag.toLowerCase()).join(", ")}`))
    : Either.right(level)
}

const scrubMessage = (scrub: (text: string) => string, message: unknown): unknown =>
  Array.isArray(message) ? message.map((part) => (typeof part === "string" ? scrub(part) : part)) : message

/** Lines are scrubbed of every configured secret (Redaction.ts) before they are written. */
export const LoggerLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const format = yield* Config.literal("logfmt", "json", "pretty")("LOG_FORMAT").pipe(
      Config.withDefault("logfmt" as const)
    )
    const level = yield* Config.string("LOG_LEVEL").pipe(Config.mapOrFail(parseLevel), Config.withDefault(LogLevel.Info))
    const { scrub } = yield* redactorConfig
    const logger = format === "pretty"
      ? Logger.prettyLogger({ stderr: true }).pipe(
        Logger.mapInputOptions((options) => ({ ...options, message: scrubMessage(scrub, options.message) }))
      )
      : Logger.withConsoleError(Logger.map(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger, scrub))
    return Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(level))
  })
)
