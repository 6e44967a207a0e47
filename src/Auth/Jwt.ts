/**
 * JWT bearer tokens of an external identity provider (README.md, "JWTs from an identity
 * provider"). A token is verified with the configured key source only, and only with the
 * algorithms that source can mean: RS256 or ES256 for a JWKS URL, the key's own algorithm for
 * a PEM key, HS256 for a secret; so `alg: none`, and an HS256 token signed with a public key as
 * its "secret", are refused. `exp` and `sub` are required; `nbf`, `iss` and `aud` are checked
 * when present or configured.
 */
import { DateTime, Duration, Effect, Option, Redacted, Schema } from "effect"
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  importSPKI,
  type JWSAlgorithm,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions
} from "jose"
import { PortalConfig } from "../Config"
import type { JwtKeySource, JwtSettings } from "../Config/JwtSettings"
import { PlainText } from "../Domain/Common"
import { Unauthorized } from "../Domain/Errors"
import { MAX_USER_NAME_LENGTH, UserName } from "../Domain/User"
import { redactUrl } from "../Redaction"

/** Three base64url segments (the third, the signature, is empty for `alg: none`); API tokens have no dot. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export const looksLikeJwt = (bearer: string): boolean => JWT_SHAPE.test(bearer)

/** Who a verified JWT says its bearer is. */
export interface ExternalIdentity {
  /** `iss`, or "" when the token has none; a subject is unique within its issuer. */
  readonly issuer: string
  readonly subject: string
  /** Names to call a new user by, in order of preference: preferred_username, email, sub. */
  readonly names: ReadonlyArray<string>
  /** Some when AUTH_JWT_ADMIN_GROUP is set: whether it is among the token's groups or roles. */
  readonly isAdmin: Option.Option<boolean>
}

const Subject = PlainText.pipe(Schema.minLength(1), Schema.maxLength(1024))
const Issuer = PlainText.pipe(Schema.maxLength(1024))

const strings = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string"
    ? [value]
    : Array.isArray(value)
    ? value.filter((item): item is string => typeof item === "string")
    : []

/** `groups` and `roles`, and Keycloak's realm roles (`realm_access.roles`). */
const groupsOf = (claims: JWTPayload): ReadonlyArray<string> => {
  const realmAccess = claims["realm_access"]
  const realmRoles = typeof realmAccess === "object" && realmAccess !== null && "roles" in realmAccess
    ? strings(realmAccess.roles)
    : []
  return [...strings(claims["groups"]), ...strings(claims["roles"]), ...realmRoles]
}

const identityOf = (claims: JWTPayload, adminGroup: Option.Option<string>): Option.Option<ExternalIdentity> =>
  Option.gen(function*() {
    const subject = yield* Schema.decodeUnknownOption(Subject)(claims.sub)
    const issuer = yield* Schema.decodeUnknownOption(Issuer)(claims.iss ?? "")
    const names = [claims["preferred_username"], claims["email"], subject.slice(0, MAX_USER_NAME_LENGTH)]
      .flatMap((name) => (typeof name === "string" ? [name.trim()] : []))
      .filter(Schema.is(UserName))
    const groups = groupsOf(claims)
    return { issuer, subject, names, isAdmin: Option.map(adminGroup, (group) => groups.includes(group)) }
  })

/** The header's `alg`, when it is short and plain enough to repeat in a message. */
const algorithmOf = (token: string): string | undefined => {
  try {
    const { alg } = decodeProtectedHeader(token)
    return typeof alg === "string" && /^[A-Za-z0-9+_-]{1,20}$/.test(alg) ? alg : undefined
  } catch {
    return undefined
  }
}

interface Refusal {
  readonly message: string
  /** A failure of ours or of the identity provider rather than of the token: worth a log line. */
  readonly logged: boolean
}

const refused = (message: string): Refusal => ({ message, logged: false })

/** Why a token was refused, in words that help its bearer and never repeat the token. */
const refusalOf = (error: unknown, token: string, algorithms: ReadonlyArray<string>): Refusal => {
  if (error instanceof errors.JWTExpired) return refused("the JWT has expired")
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return refused(`the JWT has no ${JSON.stringify(error.claim)} claim`)
    switch (error.claim) {
      case "nbf":
        return refused("the JWT is not valid yet (nbf)")
      case "iss":
        return refused("the JWT was issued by another issuer (iss)")
      case "aud":
        return refused("the JWT is meant for another audience (aud)")
      default:
        return refused(`the JWT's ${JSON.stringify(error.claim)} claim is invalid`)
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    const alg = algorithmOf(token)
    return refused(
      alg === "none"
        ? "unsigned JWTs (alg \"none\") are not accepted"
        : `the JWT's algorithm${alg === undefined ? "" : ` ${JSON.stringify(alg)}`} is not allowed; accepted: ${
          algorithms.join(", ")
        }`
    )
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return refused("the JWT's signature does not verify")
  if (error instanceof errors.JWKSNoMatchingKey) {
    return refused("the JWT is signed with a key the identity provider does not publish (unknown kid)")
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return refused("several keys of the identity provider fit the JWT; it needs a kid")
  }
  if (error instanceof errors.JWKSTimeout) {
    return { message: "the identity provider's keys could not be fetched in time; try again", logged: true }
  }
  if (error instanceof errors.JOSENotSupported) return refused("the JWT uses an algorithm or key type that is not supported")
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return refused("malformed JWT")
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JOSEError || error instanceof TypeError) {
    return { message: "the identity provider's keys could not be fetched; try again", logged: true }
  }
  return { message: "the JWT could not be verified", logged: true }
}

type VerifyToken = (token: string, options: JWTVerifyOptions) => Promise<{ readonly payload: JWTPayload }>

interface VerificationMethod {
  readonly algorithms: Array<JWSAlgorithm>
  readonly verify: VerifyToken
  /** How long a verification may take at most: a JWKS fetch is bounded by its own timeout. */
  readonly deadline: Duration.Duration
  readonly describe: string
}

const millis = (duration: Duration.Duration): number => Math.max(1, Math.round(Duration.toMillis(duration)))

/** Room above the JWKS fetch timeout for the signature check itself. */
const VERIFY_SLACK = Duration.seconds(1)

const methodOf = (source: JwtKeySource, settings: JwtSettings): Effect.Effect<VerificationMethod> => {
  switch (source._tag) {
    case "Jwks": {
      // fetched on first use, kept for cacheMaxAge, fetched again early for an unknown kid at most once per cooldown
      const keys = createRemoteJWKSet(source.url, {
        timeoutDuration: millis(settings.jwksTimeout),
        cooldownDuration: millis(settings.jwksCooldown),
        cacheMaxAge: millis(settings.jwksCacheMaxAge)
      })
      return Effect.succeed({
        algorithms: ["RS256", "ES256"],
        verify: (token, options) => jwtVerify(token, keys, options),
        deadline: Duration.sum(settings.jwksTimeout, VERIFY_SLACK),
        describe: `JWKS ${redactUrl(source.url.href)}`
      })
    }
    case "PublicKey":
      // the key was parsed when the settings were read; importing it again cannot fail
      return Effect.map(Effect.promise(() => importSPKI(source.spki, source.algorithm)), (key) => ({
        algorithms: [source.algorithm],
        verify: (token, options) => jwtVerify(token, key, options),
        deadline: VERIFY_SLACK,
        describe: `AUTH_JWT_PUBLIC_KEY (${source.algorithm})`
      }))
    case "Secret": {
      const key = new TextEncoder().encode(Redacted.value(source.secret))
      return Effect.succeed({
        algorithms: ["HS256"],
        verify: (token, options) => jwtVerify(token, key, options),
        deadline: VERIFY_SLACK,
        describe: "AUTH_JWT_SECRET (HS256)"
      })
    }
  }
}

export class JwtVerifier extends Effect.Service<JwtVerifier>()("Portal/JwtVerifier", {
  effect: Effect.gen(function*() {
    const settings = (yield* PortalConfig).jwt
    const configured = yield* Option.match(settings.keySource, {
      onNone: () => Effect.succeedNone,
      onSome: (source) => Effect.asSome(methodOf(source, settings))
    })

    const unauthorized = (message: string) => new Unauthorized({ message })

    const verifyWith = (method: VerificationMethod, token: string) =>
      Effect.gen(function*() {
        const options: JWTVerifyOptions = {
          algorithms: method.algorithms,
          clockTolerance: Duration.toSeconds(settings.clockTolerance),
          currentDate: DateTime.toDate(yield* DateTime.now),
          requiredClaims: ["exp", "sub"],
          ...Option.match(settings.issuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) }),
          ...Option.match(settings.audience, { onNone: () => ({}), onSome: (audience) => ({ audience: [...audience] }) })
        }
        const { payload } = yield* Effect.tryPromise({
          try: () => method.verify(token, options),
          catch: (error) => refusalOf(error, token, method.algorithms)
        }).pipe(
          Effect.timeoutFail({
            duration: method.deadline,
            onTimeout: (): Refusal => ({ message: "the JWT could not be verified in time; try again", logged: true })
          }),
          Effect.tapError((refusal) =>
            refusal.logged
              ? Effect.logWarning("JWT verification failed", { keys: method.describe, reason: refusal.message })
              : Effect.void
          ),
          Effect.mapError((refusal) => unauthorized(refusal.message))
        )
        return yield* Option.match(identityOf(payload, settings.adminGroup), {
          onNone: () => Effect.fail(unauthorized("the JWT's sub or iss claim is not a usable identity")),
          onSome: Effect.succeed
        })
      })

    /** The identity a JWT-shaped bearer token proves; 401 when it proves none or JWTs are not configured. */
    const verify = (token: string): Effect.Effect<ExternalIdentity, Unauthorized> =>
      Option.match(configured, {
        onNone: () =>
          Effect.fail(unauthorized(
            "this server does not accept JWT bearer tokens (no AUTH_JWT_JWKS_URL, AUTH_JWT_PUBLIC_KEY or " +
              "AUTH_JWT_SECRET is configured); use an API token"
          )),
        onSome: (method) => verifyWith(method, token)
      }).pipe(Effect.withSpan("JwtVerifier.verify"))

    return { verify } as const
  })
}) {}
