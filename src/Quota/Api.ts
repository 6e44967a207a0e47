import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Authentication } from "../Auth/Authentication"
import { QuotaReport } from "../Domain/Quota"

export class QuotaApi extends HttpApiGroup.make("quota")
  .add(
    HttpApiEndpoint.get("get", "/quota")
      .addSuccess(QuotaReport)
      .annotate(OpenApi.Identifier, "getQuota")
      .annotate(OpenApi.Summary, "The caller's quota: limit, bytes stored, bytes reserved by open sessions, remaining")
      .annotate(
        OpenApi.Description,
        "A session reserves its total_size_bytes from creation until it ends; a creation that does not fit is 429."
      )
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Quota")
  .annotate(OpenApi.Description, "Bytes a user may keep: STORED files plus what open sessions reserve")
{}
