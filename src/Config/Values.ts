/** How a setting is read from the environment: sizes in bytes, durations in seconds, lists, optional text. */
import { Config, Duration, Option } from "effect"

export const MiB = 1024 * 1024
export const GiB = 1024 * MiB

export const bytes = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive number of bytes`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

export const seconds = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: `${name} must be a positive number of seconds`, validation: (n) => n > 0 }),
    Config.withDefault(fallback),
    Config.map(Duration.seconds)
  )

/** Unset, empty and blank all mean none. */
export const optionalString = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((s) => s.trim() !== "")))

/** `a, b,c` → ["a", "b", "c"], each item as `normalize` makes it; unset or empty means none. */
export const optionalList = (name: string, normalize: (item: string) => string = (item) => item) =>
  optionalString(name).pipe(
    Config.map(Option.map((raw) => raw.split(",").map((s) => normalize(s.trim())).filter((s) => s !== ""))),
    Config.map(Option.filter((list) => list.length > 0))
  )
