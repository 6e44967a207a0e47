/** Operator endpoints; admins only. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Authentication } from "../Auth/Authentication"
import { Forbidden } from "../Domain/Errors"
import { SweepReport } from "../Sweeper/Sweeper"

export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("sweep", "/admin/sweep")
      .addSuccess(SweepReport)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Run the sweeper now: end expired sessions, remove leftover staging")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Description, "For admins only; other users get 403")
{}
