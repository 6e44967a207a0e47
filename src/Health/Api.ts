/** The health probe: whether the database and the storage answer; no authentication. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { ApiError } from "../Domain/ApiError"
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
export class Unhealthy extends ApiError<Unhealthy>()(
  "Unhealthy", 503, "The database or the storage is not available",
  { report: HealthReport }
) {}

export class HealthApi extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(Unhealthy)
      .annotateContext(operation("getHealth", {
        summary: "Liveness and readiness of the database and the storage",
        description: "200 when both answer; 503 with the same report naming what is down."
      }))
  )
  .annotateContext(OpenApi.annotations({
    title: "Health",
    description: "Probes for load balancers and orchestrators; no authentication"
  }))
{}
