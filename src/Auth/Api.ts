import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { User } from "../Domain/User"
import { Authentication } from "./Authentication"

export class AccountApi extends HttpApiGroup.make("account")
  .add(
    HttpApiEndpoint.get("me", "/me")
      .addSuccess(User)
      .annotate(OpenApi.Identifier, "getCurrentUser")
      .annotate(OpenApi.Summary, "The user the bearer token belongs to")
      .annotate(OpenApi.Description, "A quick check of a token: its user's name, admin flag and quota.")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Account")
  .annotate(OpenApi.Description, "The caller's own user")
{}
