/**
 * The route template a request is answered by ("/uploads/sessions/:id/parts/:part_number"),
 * for log lines and metric labels, which must never carry raw ids. The router matches inside
 * the app and tells nobody outside it, so the templates are taken from the very routes it
 * serves (the API's endpoints, the docs, the page, /metrics and whatever else is added) and
 * matched here the way it matches them: static segments before parameters before `*`.
 */
import type { HttpRouter } from "@effect/platform"

/** The one label of every request no route answers (unknown paths cannot grow the label set). */
export const UNMATCHED = "unmatched"

interface Template {
  readonly method: string
  readonly path: string
  /** Without the leading empty segment; ":x" is a parameter, "*" the rest of the path. */
  readonly segments: ReadonlyArray<string>
}

const rank = (segment: string) => (segment === "*" ? 2 : segment.startsWith(":") ? 1 : 0)

/** More specific first: at the first segment where two templates differ in kind, the static one wins. */
const bySpecificity = (a: Template, b: Template) => {
  for (let i = 0; i < Math.min(a.segments.length, b.segments.length); i++) {
    const order = rank(a.segments[i] ?? "") - rank(b.segments[i] ?? "")
    if (order !== 0) return order
  }
  return b.segments.length - a.segments.length
}

const matches = (template: Template, segments: ReadonlyArray<string>) => {
  const last = template.segments.length - 1
  for (let i = 0; i <= last; i++) {
    const expected = template.segments[i] ?? ""
    if (expected === "*" && i === last) return true
    const actual = segments[i + 1]
    if (actual === undefined || (expected.startsWith(":") ? actual === "" : actual !== expected)) return false
  }
  return segments.length === template.segments.length + 1
}

const routedBy = (template: { readonly method: string }, method: string) =>
  template.method === method || template.method === "*" || (method === "HEAD" && template.method === "GET")

export interface RouteMatcher {
  /** The template of the route for `method` and `url` (path and query); UNMATCHED when none is. */
  readonly match: (method: string, url: string) => string
}

export const makeRouteMatcher = <E, R>(router: HttpRouter.HttpRouter<E, R>): RouteMatcher => {
  /** Templates without parameters, by path: matched with one lookup, the common case. */
  const statics = new Map<string, Array<string>>()
  const dynamic: Array<Template> = []
  for (const route of router.routes) {
    if (route.path === "*" || route.path.includes(":") || route.path.includes("*")) {
      const segments = route.path === "*" ? ["*"] : route.path.split("/").slice(1)
      dynamic.push({ method: route.method, path: route.path, segments })
    } else {
      statics.set(route.path, [...(statics.get(route.path) ?? []), route.method])
    }
  }
  for (const [path] of router.mounts) dynamic.push({ method: "*", path: `${path}/*`, segments: [...path.split("/").slice(1), "*"] })
  dynamic.sort(bySpecificity)

  const match = (method: string, url: string): string => {
    const query = url.indexOf("?")
    const path = query === -1 ? url : url.slice(0, query)
    const methods = statics.get(path)
    if (methods !== undefined && methods.some((routed) => routedBy({ method: routed }, method))) return path
    const segments = path.split("/")
    let otherMethod: string | undefined = methods === undefined ? undefined : path
    for (const template of dynamic) {
      if (!matches(template, segments)) continue
      if (routedBy(template, method)) return template.path
      otherMethod ??= template.path
    }
    // a path served for other methods keeps its template; the status (404, 405, 204) tells the rest
    return otherMethod ?? UNMATCHED
  }
  return { match }
}
