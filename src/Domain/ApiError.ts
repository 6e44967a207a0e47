/**
 * How an error a client can see is declared: a `Schema.TaggedError` with a stable `_tag`, a
 * human `message` beside the fields that help, and the HTTP status and description that the
 * handlers answer with and the OpenAPI document shows.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** `class X extends ApiError<X>()("X", 409, "What it means", { field: Schema.String }) {}` */
export const ApiError = <Self>() =>
<Tag extends string, Fields extends Schema.Struct.Fields = {}>(
  tag: Tag,
  status: number,
  description: string,
  fields?: Fields
) =>
  Schema.TaggedError<Self>()(
    tag,
    Object.assign({ message: Schema.String }, fields),
    HttpApiSchema.annotations({ status, description })
  )
