/**
 * The settings of JWT bearer tokens from an identity provider (AUTH_JWT_*): where the keys
 * that sign them come from (a JWKS URL, a public key or an HS256 secret, at most one), and
 * what a token must say to be accepted.
 */
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto"
import { optionalList, optionalString, seconds } from "./Values"

/** Where the keys that sign accepted JWTs come from: at most one source is configured. */
export type JwtKeySource =
  | { readonly _tag: "Jwks"; readonly url: URL }
  | { readonly _tag: "PublicKey"; readonly spki: string; readonly algorithm: "RS256" | "ES256" }
  | { readonly _tag: "Secret"; readonly secret: Redacted.Redacted<string> }

export interface JwtSettings {
  /** None: JWT bearer tokens are refused (API tokens only). */
  readonly keySource: Option.Option<JwtKeySource>
  readonly issuer: Option.Option<string>
  /** Any of these in `aud` is accepted. */
  readonly audience: Option.Option<ReadonlyArray<string>>
  readonly adminGroup: Option.Option<string>
  /** How far `exp` and `nbf` may be off: the clocks of the identity provider and ours drift apart. */
  readonly clockTolerance: Duration.Duration
  /** A JWKS fetch is abandoned after this long, so a slow identity provider cannot hold a request. */
  readonly jwksTimeout: Duration.Duration
  /** After a fetch, an unknown `kid` triggers no other fetch for this long. */
  readonly jwksCooldown: Duration.Duration
  /** Keys are fetched again after this long even when every `kid` is known. */
  readonly jwksCacheMaxAge: Duration.Duration
}

/**
 * AUTH_JWT_PUBLIC_KEY as a SPKI PEM and the one algorithm its type allows: a PEM public key or
 * certificate, or the bare base64 of the key (what Keycloak shows); line breaks may be written
 * as `\n`, as environment files often do.
 */
const jwtPublicKey = (raw: string): Either.Either<Extract<JwtKeySource, { _tag: "PublicKey" }>, string> => {
  const text = raw.replaceAll("\\n", "\n").trim()
  let key: KeyObject
  try {
    key = text.includes("-----BEGIN CERTIFICATE-----")
      ? new X509Certificate(text).publicKey
      : text.startsWith("-----BEGIN")
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, "base64"), format: "der", type: "spki" })
  } catch {
    return Either.left("AUTH_JWT_PUBLIC_KEY is not a PEM public key or certificate")
  }
  const spki = key.export({ type: "spki", format: "pem" }).toString()
  if (key.asymmetricKeyType === "rsa") return Either.right({ _tag: "PublicKey", spki, algorithm: "RS256" })
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") {
    return Either.right({ _tag: "PublicKey", spki, algorithm: "ES256" })
  }
  return Either.left("AUTH_JWT_PUBLIC_KEY must be an RSA key (RS256) or an EC P-256 key (ES256)")
}

const httpUrl = (raw: string): Option.Option<URL> => {
  try {
    const url = new URL(raw)
    return url.protocol === "http:" || url.protocol === "https:" ? Option.some(url) : Option.none()
  } catch {
    return Option.none()
  }
}

/** RFC 7518 3.2: an HS256 key has at least as many bits as the hash. */
const MIN_HS256_SECRET_BYTES = 32

const jwtKeySource: Config.Config<Option.Option<JwtKeySource>> = Config.all({
  jwksUrl: optionalString("AUTH_JWT_JWKS_URL").pipe(
    Config.validate({
      message: "AUTH_JWT_JWKS_URL must be an http:// or https:// URL",
      validation: Option.match({ onNone: () => true, onSome: (url) => Option.isSome(httpUrl(url)) })
    })
  ),
  publicKey: optionalString("AUTH_JWT_PUBLIC_KEY").pipe(
    Config.mapOrFail(Option.match({
      onNone: () => Either.right(Option.none()),
      onSome: (raw) =>
        Either.mapBoth(jwtPublicKey(raw), {
          onLeft: (message) => ConfigError.InvalidData(["AUTH_JWT_PUBLIC_KEY"], message),
          onRight: Option.some
        })
    }))
  ),
  secret: optionalString("AUTH_JWT_SECRET").pipe(
    Config.validate({
      message: `AUTH_JWT_SECRET must be at least ${MIN_HS256_SECRET_BYTES} bytes for HS256`,
      validation: Option.match({
        onNone: () => true,
        onSome: (secret) => new TextEncoder().encode(secret).byteLength >= MIN_HS256_SECRET_BYTES
      })
    })
  )
}).pipe(
  Config.validate({
    message: "set only one of AUTH_JWT_JWKS_URL, AUTH_JWT_PUBLIC_KEY and AUTH_JWT_SECRET",
    validation: (sources) =>
      [Option.isSome(sources.jwksUrl), Option.isSome(sources.publicKey), Option.isSome(sources.secret)]
        .filter((isSet) => isSet).length <= 1
  }),
  Config.map(({ jwksUrl, publicKey, secret }): Option.Option<JwtKeySource> =>
    Option.firstSomeOf<JwtKeySource>([
      Option.map(Option.flatMap(jwksUrl, httpUrl), (url) => ({ _tag: "Jwks", url })),
      publicKey,
      Option.map(secret, (value) => ({ _tag: "Secret", secret: Redacted.make(value) }))
    ])
  )
)

export const jwtSettings: Config.Config<JwtSettings> = Config.all({
  keySource: jwtKeySource,
  issuer: optionalString("AUTH_JWT_ISSUER"),
  audience: optionalList("AUTH_JWT_AUDIENCE"),
  adminGroup: optionalString("AUTH_JWT_ADMIN_GROUP").pipe(Config.map(Option.map((group) => group.trim()))),
  clockTolerance: Config.number("AUTH_JWT_CLOCK_TOLERANCE").pipe(
    Config.validate({
      message: "AUTH_JWT_CLOCK_TOLERANCE must be 0 to 300 seconds",
      validation: (n) => n >= 0 && n <= 300
    }),
    Config.withDefault(30),
    Config.map(Duration.seconds)
  ),
  jwksTimeout: seconds("AUTH_JWT_JWKS_TIMEOUT", 5),
  jwksCooldown: seconds("AUTH_JWT_JWKS_COOLDOWN", 30),
  jwksCacheMaxAge: seconds("AUTH_JWT_JWKS_CACHE_MAX_AGE", 600)
})
