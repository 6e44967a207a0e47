/**
 * A stand-in identity provider for the JWT tests: signing keys made with jose, a JWKS served
 * over loopback by Bun.serve (counting its fetches, replaceable to rotate keys, able to stall),
 * and tokens signed with those keys, or crafted by hand where jose refuses to (`alg: none`).
 */
import { base64url, type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose"

export type AsymmetricAlgorithm = "RS256" | "ES256"

export interface SigningKey {
  readonly kid: string
  readonly alg: AsymmetricAlgorithm
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  /** The public half as the JWKS publishes it. */
  readonly jwk: JWK
}

export const makeSigningKey = async (alg: AsymmetricAlgorithm, kid: string): Promise<SigningKey> => {
  const { privateKey, publicKey } = await generateKeyPair(alg)
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } }
}

/** The public key as AUTH_JWT_PUBLIC_KEY takes it. */
export const publicKeyPem = (key: SigningKey): Promise<string> => exportSPKI(key.publicKey)

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** Claims that pass by default: issued now, valid for five minutes. */
export const claimsFor = (overrides: JWTPayload & Record<string, unknown> = {}): JWTPayload => ({
  iat: nowSeconds(),
  exp: nowSeconds() + 300,
  ...overrides
})

/** Signs `claims` as they are (no defaults added); the header names `kid` unless told otherwise. */
export const signJwt = (
  key: { readonly privateKey: CryptoKey | Uint8Array; readonly alg: string; readonly kid?: string },
  claims: JWTPayload,
  header: { readonly kid?: string } = {}
): Promise<string> => {
  const kid = header.kid ?? key.kid
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: "JWT", ...(kid === undefined ? {} : { kid }) })
    .sign(key.privateKey)
}

/** An unsecured JWT (RFC 7519 6): `alg: none` and an empty signature. */
export const unsignedJwt = (claims: JWTPayload, kid?: string): string => {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value))
  return `${encode({ alg: "none", typ: "JWT", ...(kid === undefined ? {} : { kid }) })}.${encode(claims)}.`
}

/** The same token with other claims and the original signature, as a forger would send it. */
export const withClaims = (token: string, claims: JWTPayload): string => {
  const [header, , signature] = token.split(".")
  return `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`
}

export interface JwksServer {
  readonly url: string
  /** How many times the JWKS was fetched. */
  readonly fetches: () => number
  /** From now on the JWKS publishes these keys (a key rotation). */
  readonly publish: (keys: ReadonlyArray<SigningKey>) => void
  readonly stop: () => Promise<void>
}

/** Serves `keys` as a JWKS on loopback; with `stall`, never answers (an identity provider that hangs). */
export const startJwksServer = (keys: ReadonlyArray<SigningKey>, options: { readonly stall?: boolean } = {}): JwksServer => {
  let published = keys
  let fetches = 0
  const stalled: Array<() => void> = []
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request) => {
      if (new URL(request.url).pathname !== "/jwks.json") return new Response("not found", { status: 404 })
      fetches++
      if (options.stall === true) {
        return new Promise<Response>((resolve) => stalled.push(() => resolve(new Response("late", { status: 503 }))))
      }
      return Response.json({ keys: published.map((key) => key.jwk) })
    }
  })
  return {
    url: `http://127.0.0.1:${server.port}/jwks.json`,
    fetches: () => fetches,
    publish: (next) => {
      published = next
    },
    stop: async () => {
      for (const release of stalled) release()
      await server.stop(true)
    }
  }
}
