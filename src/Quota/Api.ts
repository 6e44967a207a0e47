/** The caller's quota: what it may keep, has stored and has reserved. */
import { HttpApiEndpoint } from "@effect/platform"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { QuotaReport } from "../Domain/Quota"

export class QuotaApi extends authenticatedGroup("quota", {
  title: "Quota",
  description: "Bytes a user may keep: STORED files plus what open sessions reserve"
})
  .add(
    HttpApiEndpoint.get("get", "/quota")
      .addSuccess(QuotaReport)
      .annotateContext(operation("getQuota", {
        summary: "The caller's quota: limit, bytes stored, bytes reserved by open sessions, remaining",
        description: "A session reserves its total_size_bytes from creation until it ends; a creation that does not fit is 429."
      }))
  )
{}
