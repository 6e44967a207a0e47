/**
 * Secrets never appear in logs, error messages or API answers: tokens, WEBHOOK_SECRET, the
 * credentials and query of WEBHOOK_URL and DATABASE_URL, S3 keys. What is known to be secret
 * is collected once from the configuration, and every text that leaves the process through a
 * log line or a stored error passes `scrub`, which replaces each secret with `***`.
 */
import { Config, Option } from "effect"

const HIDDEN = "***"

/** A URL without its secrets: `https://***@host/path?token=***`. Not a URL at all: `***`. */
export const redactUrl = (raw: string): string => {
  try {
    const url = new URL(raw)
    if (url.username !== "" || url.password !== "") {
      url.username = HIDDEN
      url.password = ""
    }
    for (const key of [...new Set(url.searchParams.keys())]) url.searchParams.set(key, HIDDEN)
    return url.toString().replaceAll("%2A%2A%2A", HIDDEN)
  } catch {
    return HIDDEN
  }
}

/** The parts of a URL that are secret: the whole URL as written, its password, its query values. */
const secretsOfUrl = (raw: string): Array<string> => {
  try {
    const url = new URL(raw)
    return [raw, decodeURIComponent(url.password), url.password, ...url.searchParams.values()]
  } catch {
    return [raw]
  }
}

export interface Redactor {
  readonly scrub: (text: string) => string
}

/** Replaces every occurrence of the secrets (longest first) with `***`; short strings are not secrets. */
export const makeRedactor = (secrets: ReadonlyArray<string>): Redactor => {
  const known = [...new Set(secrets.filter((secret) => secret.length >= 4))].sort((a, b) => b.length - a.length)
  const urls = secrets.filter((secret) => /^[a-z][a-z0-9+.-]*:\/\//i.test(secret))
  return {
    scrub: (text) => {
      let out = text
      // a URL is replaced by its redacted form, so that what it pointed at stays readable
      for (const url of urls) out = out.replaceAll(url, redactUrl(url))
      for (const secret of known) out = out.replaceAll(secret, HIDDEN)
      return out
    }
  }
}

const optional = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.toArray))

/** Every configured secret, read from the same environment as the settings. */
export const secretsConfig: Config.Config<ReadonlyArray<string>> = Config.all([
  optional("WEBHOOK_URL").pipe(Config.map((urls) => urls.flatMap(secretsOfUrl))),
  optional("DATABASE_URL").pipe(Config.map((urls) => urls.flatMap(secretsOfUrl))),
  optional("WEBHOOK_SECRET"),
  optional("S3_SECRET_ACCESS_KEY"),
  optional("AWS_SECRET_ACCESS_KEY"),
  optional("METRICS_TOKEN"),
  optional("AUTH_JWT_SECRET")
]).pipe(Config.map((lists) => lists.flat().filter((secret) => secret.trim() !== "")))

export const redactorConfig = secretsConfig.pipe(Config.map(makeRedactor))
