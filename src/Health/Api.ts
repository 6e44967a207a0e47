import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Integer } from "../Domain/Common"

export const CheckResult = Schema.Struct({
  status: Schema.Literal("ok", "unavailable"),
  latency_ms: Integer,
  error: Schema.optional(Schema.String)
})

export class HealthReport extends Schema.Class<HealthReport>("HealthReport")({
  status: Schema.Literal("ok", "unavailable"),
  checks: Schema.Struct({ database: CheckResult, storage: CheckResult })
}, { description: "Whether the database and the storage answer, and how fast" }) {}

/** 503 with the same report, so an operator sees which dependency is down. */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()(
  "Unhealthy",
  { message: Schema.String, report: HealthReport },
  HttpApiSchema.annotations({ status: 503, description: "The database or the storage is not available" })
) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(Unhealthy)
      .annotate(OpenApi.Identifier, "getHealth")
      .annotate(OpenApi.Summary, "Liveness and readiness of the database and the storage")
      .annotate(OpenApi.Description, "200 when both answer; 503 with the same report naming what is down.")
  )
  .annotate(OpenApi.Title, "Health")
  .annotate(OpenApi.Description, "Probes for load balancers and orchestrators; no authentication")
{}
