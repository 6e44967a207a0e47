import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Authentication } from "../Auth/Authentication"
import { QuotaReport } from "../Domain/Quota"

export class QuotaApi extends HttpApiGroup.make("quota")
  .add(
    HttpApiEndpoint.get("get", "/quota")
      .addSuccess(QuotaReport)
      .annotate(OpenApi.Summary, "The caller's quota: limit, bytes stored, bytes reserved by open sessions, remaining")
  )
  .middleware(Authentication)
{}
