/**
 * The last pass over the OpenAPI document, for what HttpApi annotations cannot say: the errors
 * that share a status as a `oneOf` keyed by `_tag` (HttpApi merges them into an `anyOf` that the
 * first one describes), each operation's examples, and a plain schema for the path of a decode
 * issue. Everything else is said where it belongs, on the schemas and endpoints. Contract only.
 */
import { examples } from "./Examples"

type Json = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const entriesOf = (value: unknown): ReadonlyArray<readonly [string, unknown]> =>
  isObject(value) ? Object.entries(value) : []

const mapValues = (value: unknown, f: (key: string, value: unknown) => unknown): Json =>
  Object.fromEntries(entriesOf(value).map(([key, item]) => [key, f(key, item)]))

const COMPONENTS = "#/components/schemas/"

/** The component names of `anyOf: [{ $ref }, …]`, when that is all the schema is. */
const refsOfUnion = (schema: unknown): ReadonlyArray<string> | undefined => {
  const members = isObject(schema) ? schema["anyOf"] : undefined
  if (!Array.isArray(members)) return undefined
  const names: Array<string> = []
  for (const member of members) {
    const ref = isObject(member) ? member["$ref"] : undefined
    if (typeof ref !== "string" || !ref.startsWith(COMPONENTS)) return undefined
    names.push(ref.slice(COMPONENTS.length))
  }
  return names
}

/** A component's `_tag`, if it is a tagged error (`_tag: { enum: [tag] }`). */
const tagOf = (component: unknown): string | undefined => {
  const properties = isObject(component) ? component["properties"] : undefined
  const tag = isObject(properties) ? properties["_tag"] : undefined
  const values = isObject(tag) ? tag["enum"] : undefined
  return Array.isArray(values) && values.length === 1 && typeof values[0] === "string" ? values[0] : undefined
}

const descriptionOf = (component: unknown, name: string): string => {
  const description = isObject(component) ? component["description"] : undefined
  return typeof description === "string" ? description : name
}

/** An error response that may be one of several tagged errors: `oneOf` with a `_tag` discriminator. */
const taggedUnion = (schemas: Json, response: Json): Json => {
  const content = isObject(response["content"]) ? response["content"] : {}
  const media = content["application/json"]
  const names = refsOfUnion(isObject(media) ? media["schema"] : undefined)
  if (!isObject(media) || names === undefined) return response
  const mapping: Record<string, string> = {}
  for (const name of names) {
    const tag = tagOf(schemas[name])
    if (tag === undefined) return response
    mapping[tag] = `${COMPONENTS}${name}`
  }
  const schema = {
    oneOf: names.map((name) => ({ $ref: `${COMPONENTS}${name}` })),
    discriminator: { propertyName: "_tag", mapping }
  }
  return {
    ...response,
    description: names.map((name) => `- \`${name}\`: ${descriptionOf(schemas[name], name)}`).join("\n"),
    content: { ...content, "application/json": { ...media, schema } }
  }
}

/** A request body or response with `example` on its JSON media type. */
const withExample = (holder: unknown, example: unknown): unknown => {
  if (example === undefined || !isObject(holder) || !isObject(holder["content"])) return holder
  const content = mapValues(holder["content"], (type, media) =>
    type === "application/json" && isObject(media) ? { ...media, example } : media
  )
  return { ...holder, content }
}

const documentOperation = (schemas: Json, operation: Json): Json => {
  const id = operation["operationId"]
  const illustrated = typeof id === "string" ? examples[id] : undefined
  const responses = mapValues(operation["responses"], (status, response) => {
    const unified = isObject(response) && Number(status) >= 400 ? taggedUnion(schemas, response) : response
    return withExample(unified, illustrated?.responses[status])
  })
  const body = operation["requestBody"]
  const requestBody = body === undefined ? {} : { requestBody: withExample(body, illustrated?.request) }
  return { ...operation, responses, ...requestBody }
}

/** What the `path` of a decode issue holds in JSON: property names and array indexes. */
const PropertyKey = {
  description: "A property name, or an array index",
  anyOf: [{ type: "string" }, { type: "integer", minimum: 0 }]
}

/** For `OpenApi.Transform` on the Api: the document as generated clients and docs should see it. */
export const documentForClients = (spec: Record<string, unknown>): Record<string, unknown> => {
  const components = isObject(spec["components"]) ? spec["components"] : {}
  const schemas = isObject(components["schemas"]) ? components["schemas"] : {}
  const paths = mapValues(spec["paths"], (_, item) =>
    mapValues(item, (_, operation) => isObject(operation) ? documentOperation(schemas, operation) : operation)
  )
  const described = "PropertyKey" in schemas ? { ...schemas, PropertyKey } : schemas
  return { ...spec, paths, components: { ...components, schemas: described } }
}
