import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { User } from "../Domain/User"
import { Authentication } from "./Authentication"

export class AccountApi extends HttpApiGroup.make("account")
  .add(
    HttpApiEndpoint.get("me", "/me")
      .addSuccess(User)
      .annotate(OpenApi.Summary, "The user the bearer token belongs to")
  )
  .middleware(Authentication)
{}
