/**
 * The upload page: `GET /` (no auth; the page asks for a token and sends it to the API
 * itself), its stylesheet, and its script, which Bun bundles from upload.ts at the first
 * request for it and keeps in memory.
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"

interface Asset {
  readonly body: string
  readonly contentType: string
  readonly etag: string
}

const sourcePath = (name: string): string => fileURLToPath(new URL(name, import.meta.url))

const asset = (body: string, contentType: string): Asset => ({
  body,
  contentType,
  etag: `"${new Bun.CryptoHasher("sha256").update(body).digest("hex").slice(0, 32)}"`
})

const readAsset = (name: string, contentType: string) =>
  Effect.promise(() => Bun.file(sourcePath(name)).text()).pipe(Effect.map((body) => asset(body, contentType)))

/** A failed build is a bug in upload.ts: a defect, answered as a logged 500. */
const bundleScript = Effect.promise(async () => {
  const build = await Bun.build({ entrypoints: [sourcePath("./upload.ts")], target: "browser", format: "esm" })
  const [output] = build.outputs
  if (!build.success || output === undefined) throw new Error(`bundling upload.ts failed: ${build.logs.join("\n")}`)
  return asset(await output.text(), "text/javascript; charset=utf-8")
})

/** Scripts and styles from this origin only, requests to the API only, no framing, no inline code. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

/** Revalidated on every load (the ETag makes that a 304), so a new deployment shows at once. */
const serve = (load: Effect.Effect<Asset>) =>
  Effect.gen(function*() {
    const { body, contentType, etag } = yield* load
    const request = yield* HttpServerRequest.HttpServerRequest
    const headers = {
      "cache-control": "no-cache",
      etag,
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer"
    }
    if (request.headers["if-none-match"] === etag) return HttpServerResponse.empty({ status: 304, headers })
    return HttpServerResponse.text(body, { contentType, headers })
  })

export const WebLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const page = yield* Effect.cached(readAsset("./page.html", "text/html; charset=utf-8"))
    const style = yield* Effect.cached(readAsset("./upload.css", "text/css; charset=utf-8"))
    const script = yield* Effect.cached(bundleScript)
    yield* router.get("/", serve(page))
    yield* router.get("/assets/upload.css", serve(style))
    yield* router.get("/assets/upload.js", serve(script))
  })
)
