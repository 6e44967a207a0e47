/**
 * Every setting of the service, read once with Effect `Config` from the environment.
 * Names are part of the contract (README.md, "Configuration"); sizes are bytes, durations seconds.
 */
import { Config, ConfigError, Context, Duration, Either, Layer, Option, Redacted } from "effect"
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto"

const MiB = 1024 * 1024
const GiB = 1024 * MiB

const bytes = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive number of bytes`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const seconds = (name: string, fallback: number) =>
  Config.number(name).pipe(
    Config.validate({ message: `${name} must be a positive number of seconds`, validation: (n) => n > 0 }),
    Config.withDefault(fallback),
    Config.map(Duration.seconds)
  )

const optionalString = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((s) => s.trim() !== "")))

/** `a/b, text/*` → ["a/b", "text/*"]; unset or empty means every type is allowed. */
const contentTypeList = (name: string) =>
  optionalString(name).pipe(
    Config.map(Option.map((raw) =>
      raw.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")
    )),
    Config.map(Option.filter((list) => list.length > 0))
  )

export type StorageBackend = "local" | "s3"

export interface UploadSettings {
  readonly maxFileSize: number
  readonly chunkSizeDefault: number
  readonly chunkSizeMin: number
  readonly chunkSizeMax: number
  readonly allowedContentTypes: Option.Option<ReadonlyArray<string>>
}

export interface S3Settings {
  /** Unset: AWS, https://s3.<region>.amazonaws.com */
  readonly endpoint: Option.Option<string>
  readonly region: string
  readonly bucket: Option.Option<string>
  readonly accessKeyId: Option.Option<string>
  readonly secretAccessKey: Option.Option<Redacted.Redacted<string>>
  readonly virtualHostedStyle: boolean
  readonly prefix: string
  readonly minPartSize: number
}

export type CorsOrigins =
  | { readonly _tag: "None" }
  | { readonly _tag: "Any" }
  | { readonly _tag: "Listed"; readonly origins: ReadonlyArray<string> }

/** `https://a.example, http://localhost:3000` → the origins as browsers send them; `*` → any. */
const corsOrigins = optionalString("CORS_ORIGINS").pipe(
  Config.mapOrFail((raw) => {
    if (Option.isNone(raw)) return Either.right<CorsOrigins>({ _tag: "None" })
    const listed = raw.value.split(",").map((origin) => origin.trim()).filter((origin) => origin !== "")
    if (listed.includes("*")) return Either.right<CorsOrigins>({ _tag: "Any" })
    const origins: Array<string> = []
    for (const origin of listed) {
      const parsed = URL.canParse(origin) ? new URL(origin) : undefined
      if (parsed === undefined || parsed.origin !== origin.replace(/\/$/, "")) {
        return Either.left(ConfigError.InvalidData([], `CORS_ORIGINS: ${origin} is not an origin such as https://app.example.com`))
      }
      origins.push(parsed.origin)
    }
    return Either.right<CorsOrigins>({ _tag: "Listed", origins })
  })
)

export interface WebhookSettings {
  readonly url: Option.Option<string>
  readonly secret: Option.Option<Redacted.Redacted<string>>
  readonly maxAttempts: number
  readonly timeout: Duration.Duration
  readonly lease: Duration.Duration
  readonly backoffBase: Duration.Duration
  readonly backoffMax: Duration.Duration
  readonly pollInterval: Duration.Duration
  readonly batchSize: number
}

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

export interface PortalSettings {
  readonly port: number
  readonly host: string
  readonly dataDir: string
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly databasePoolSize: number
  readonly storageBackend: StorageBackend
  readonly storageFsync: boolean
  readonly s3: S3Settings
  readonly limits: UploadSettings
  /** How long a part claim or a finalize lease lasts unrenewed: how soon a dead holder's work is taken over. */
  readonly uploadLease: Duration.Duration
  /** How long a part upload waits for another upload of the same part before answering 409. */
  readonly partWait: Duration.Duration
  /** How long a complete waits for another complete of the same session before answering 409. */
  readonly finalizeWait: Duration.Duration
  /** Part uploads one user may have in flight on one instance. */
  readonly maxConcurrentPerUser: number
  /** How long a part body may go without a byte before it is ended (408) and nothing of it counts. */
  readonly bodyIdleTimeout: Duration.Duration
  readonly sessionTtl: Duration.Duration
  readonly defaultQuota: number
  readonly sweepInterval: Duration.Duration
  /** How often the background sweep also lists the store's objects to remove those no file owns. */
  readonly storageGcInterval: Duration.Duration
  readonly webhook: WebhookSettings
  readonly jwt: JwtSettings
  /** How long a stopping instance lets the requests under way finish. */
  readonly shutdownTimeout: Duration.Duration
  /** Origins whose pages may call the API from a browser: a list, or "*" for any. */
  readonly corsOrigins: CorsOrigins
  /** When set, GET /metrics needs `Authorization: Bearer <it>`. */
  readonly metricsToken: Option.Option<Redacted.Redacted<string>>
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

export const settingsConfig: Config.Config<PortalSettings> = Config.all({
  port: Config.integer("PORT").pipe(
    Config.validate({ message: "PORT must be 0..65535 (0 picks a free port)", validation: (n) => n >= 0 && n <= 65535 }),
    Config.withDefault(8000)
  ),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")).pipe(
    Config.map(Option.filter((url) => Redacted.value(url).trim() !== ""))
  ),
  databasePoolSize: Config.integer("DATABASE_POOL_SIZE").pipe(
    Config.validate({ message: "DATABASE_POOL_SIZE must be >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(10)
  ),
  storageBackend: Config.literal("local", "s3")("STORAGE_BACKEND").pipe(Config.withDefault("local" as const)),
  storageFsync: Config.boolean("STORAGE_FSYNC").pipe(Config.withDefault(true)),
  s3: Config.all({
    endpoint: optionalString("S3_ENDPOINT"),
    region: Config.string("S3_REGION").pipe(Config.withDefault("us-east-1")),
    bucket: optionalString("S3_BUCKET"),
    accessKeyId: Config.all([optionalString("S3_ACCESS_KEY_ID"), optionalString("AWS_ACCESS_KEY_ID")]).pipe(
      Config.map(([own, aws]) => Option.orElse(own, () => aws))
    ),
    secretAccessKey: Config.all([optionalString("S3_SECRET_ACCESS_KEY"), optionalString("AWS_SECRET_ACCESS_KEY")]).pipe(
      Config.map(([own, aws]) => Option.map(Option.orElse(own, () => aws), Redacted.make))
    ),
    virtualHostedStyle: Config.boolean("S3_VIRTUAL_HOSTED_STYLE").pipe(Config.withDefault(false)),
    prefix: Config.string("S3_PREFIX").pipe(
      Config.validate({
        message: "S3_PREFIX may hold letters, digits and !-_.*'()/ only, and must not start with /",
        validation: (prefix) => /^(?!\/)[A-Za-z0-9!_.*'()/-]*$/.test(prefix)
      }),
      Config.withDefault("")
    ),
    minPartSize: bytes("S3_MIN_PART_SIZE", 5 * MiB)
  }),
  limits: Config.all({
    maxFileSize: bytes("UPLOAD_MAX_FILE_SIZE", 5 * GiB),
    chunkSizeDefault: bytes("UPLOAD_CHUNK_SIZE_DEFAULT", 8 * MiB),
    chunkSizeMin: bytes("UPLOAD_CHUNK_SIZE_MIN", 5 * MiB),
    chunkSizeMax: bytes("UPLOAD_CHUNK_SIZE_MAX", 64 * MiB),
    allowedContentTypes: contentTypeList("UPLOAD_ALLOWED_CONTENT_TYPES")
  }).pipe(Config.validate({
    message: "UPLOAD_CHUNK_SIZE_MIN <= UPLOAD_CHUNK_SIZE_DEFAULT <= UPLOAD_CHUNK_SIZE_MAX must hold",
    validation: (l) => l.chunkSizeMin <= l.chunkSizeDefault && l.chunkSizeDefault <= l.chunkSizeMax
  })),
  sessionTtl: seconds("UPLOAD_SESSION_TTL", 3600),
  uploadLease: seconds("UPLOAD_LEASE", 10),
  partWait: seconds("UPLOAD_PART_WAIT", 30),
  finalizeWait: seconds("UPLOAD_FINALIZE_WAIT", 30),
  maxConcurrentPerUser: Config.integer("UPLOAD_MAX_CONCURRENT_PER_USER").pipe(
    Config.validate({ message: "UPLOAD_MAX_CONCURRENT_PER_USER must be >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(32)
  ),
  bodyIdleTimeout: seconds("UPLOAD_BODY_IDLE_TIMEOUT", 30),
  defaultQuota: Config.integer("UPLOAD_DEFAULT_QUOTA").pipe(
    Config.validate({ message: "UPLOAD_DEFAULT_QUOTA must be >= 0", validation: (n) => n >= 0 }),
    Config.withDefault(10 * GiB)
  ),
  sweepInterval: seconds("SWEEP_INTERVAL", 60),
  storageGcInterval: seconds("STORAGE_GC_INTERVAL", 3600),
  corsOrigins,
  metricsToken: optionalString("METRICS_TOKEN").pipe(
    Config.validate({
      message: "METRICS_TOKEN must be 16 to 256 visible ASCII characters (no spaces)",
      validation: Option.match({ onNone: () => true, onSome: (token) => /^[\x21-\x7e]{16,256}$/.test(token) })
    }),
    Config.map(Option.map(Redacted.make))
  ),
  shutdownTimeout: seconds("SHUTDOWN_TIMEOUT", 25),
  webhook: Config.all({
    url: optionalString("WEBHOOK_URL"),
    secret: Config.option(Config.redacted("WEBHOOK_SECRET")),
    maxAttempts: Config.integer("WEBHOOK_MAX_ATTEMPTS").pipe(
      Config.validate({ message: "WEBHOOK_MAX_ATTEMPTS must be >= 1", validation: (n) => n >= 1 }),
      Config.withDefault(10)
    ),
    timeout: seconds("WEBHOOK_TIMEOUT", 10),
    lease: seconds("WEBHOOK_LEASE", 60),
    backoffBase: seconds("WEBHOOK_BACKOFF_BASE", 2),
    backoffMax: seconds("WEBHOOK_BACKOFF_MAX", 3600),
    pollInterval: seconds("WEBHOOK_POLL_INTERVAL", 1),
    batchSize: Config.integer("WEBHOOK_BATCH_SIZE").pipe(
      Config.validate({ message: "WEBHOOK_BATCH_SIZE must be between 1 and 1000", validation: (n) => n >= 1 && n <= 1000 }),
      Config.withDefault(10)
    )
  }).pipe(Config.validate({
    message: "WEBHOOK_BACKOFF_BASE must not exceed WEBHOOK_BACKOFF_MAX",
    validation: (w) => Duration.lessThanOrEqualTo(w.backoffBase, w.backoffMax)
  })),
  jwt: Config.all({
    keySource: jwtKeySource,
    issuer: optionalString("AUTH_JWT_ISSUER"),
    audience: optionalString("AUTH_JWT_AUDIENCE").pipe(
      Config.map(Option.map((raw) => raw.split(",").map((s) => s.trim()).filter((s) => s !== ""))),
      Config.map(Option.filter((list) => list.length > 0))
    ),
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
})

export class PortalConfig extends Context.Tag("Portal/Config")<PortalConfig, PortalSettings>() {
  /** Reads the environment (or whatever ConfigProvider is current). */
  static readonly layer = Layer.effect(PortalConfig, settingsConfig)
}
