/**
 * Every setting of the service, read once with Effect `Config` from the environment.
 * Names are part of the contract (README.md, "Configuration"); sizes are bytes, durations seconds.
 * How a value is read is in Config/Values.ts; the JWT and CORS settings have files of their own.
 */
import { Config, Context, Duration, Layer, Option, Redacted } from "effect"
import { type CorsOrigins, corsOrigins } from "./Config/CorsOrigins"
import { type JwtSettings, jwtSettings } from "./Config/JwtSettings"
import { bytes, GiB, MiB, optionalList, optionalString, seconds } from "./Config/Values"

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

export interface PortalSettings {
  readonly port: number
  readonly host: string
  readonly dataDir: string
  /** Where the embedded database's templates are kept (EmbeddedTemplate.ts); none: under node_modules/.cache. */
  readonly embeddedTemplateDir: Option.Option<string>
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

export const settingsConfig: Config.Config<PortalSettings> = Config.all({
  port: Config.integer("PORT").pipe(
    Config.validate({ message: "PORT must be 0..65535 (0 picks a free port)", validation: (n) => n >= 0 && n <= 65535 }),
    Config.withDefault(8000)
  ),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  embeddedTemplateDir: optionalString("EMBEDDED_TEMPLATE_DIR"),
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
    allowedContentTypes: optionalList("UPLOAD_ALLOWED_CONTENT_TYPES", (type) => type.toLowerCase())
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
  jwt: jwtSettings
})

export class PortalConfig extends Context.Tag("Portal/Config")<PortalConfig, PortalSettings>() {
  /** Reads the environment (or whatever ConfigProvider is current). */
  static readonly layer = Layer.effect(PortalConfig, settingsConfig)
}
