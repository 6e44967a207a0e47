/** CORS_ORIGINS: the origins whose pages may call the API from a browser (src/Cors.ts answers them). */
import { Config, ConfigError, Either, Option } from "effect"
import { optionalString } from "./Values"

export type CorsOrigins =
  | { readonly _tag: "None" }
  | { readonly _tag: "Any" }
  | { readonly _tag: "Listed"; readonly origins: ReadonlyArray<string> }

/** `https://a.example, http://localhost:3000` → the origins as browsers send them; `*` → any. */
export const corsOrigins = optionalString("CORS_ORIGINS").pipe(
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
