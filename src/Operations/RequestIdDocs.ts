/**
 * The OpenAPI document's side of the request id (RequestLog.ts): every JSON error body carries
 * `request_id`, so every schema an error response refers to documents it (the generated
 * schemas forbid properties they do not list). Contract only: no server code here.
 */

type Json = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const REQUEST_ID = {
  type: "string",
  description: "The request's id, as in the X-Request-Id response header and the server's log lines"
}

/** Every `$ref` name inside `schema`, however deeply nested (anyOf, oneOf, …). */
const refsIn = (schema: unknown, into: Set<string>): Set<string> => {
  if (Array.isArray(schema)) for (const item of schema) refsIn(item, into)
  else if (isObject(schema)) {
    const ref = schema["$ref"]
    if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) into.add(ref.slice("#/components/schemas/".length))
    for (const value of Object.values(schema)) refsIn(value, into)
  }
  return into
}

const withRequestId = (schema: unknown): unknown =>
  isObject(schema) && schema["type"] === "object" && isObject(schema["properties"])
    ? { ...schema, properties: { ...schema["properties"], request_id: REQUEST_ID } }
    : schema

/** For `OpenApi.Transform`: adds `request_id` to the schemas of every 4xx and 5xx response body. */
export const documentRequestId = (spec: Record<string, unknown>): Record<string, unknown> => {
  const names = new Set<string>()
  const paths: unknown = spec["paths"]
  for (const operations of isObject(paths) ? Object.values(paths) : []) {
    for (const operation of isObject(operations) ? Object.values(operations) : []) {
      const responses = isObject(operation) ? operation["responses"] : undefined
      for (const [status, response] of isObject(responses) ? Object.entries(responses) : []) {
        if (Number(status) >= 400) refsIn(response, names)
      }
    }
  }
  const components: unknown = spec["components"]
  const schemas = isObject(components) ? components["schemas"] : undefined
  if (!isObject(components) || !isObject(schemas)) return spec
  const documented = Object.fromEntries(
    Object.entries(schemas).map(([name, schema]) => [name, names.has(name) ? withRequestId(schema) : schema])
  )
  return { ...spec, components: { ...components, schemas: documented } }
}
