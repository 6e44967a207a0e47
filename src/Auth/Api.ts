/** The caller's own account: who the bearer token belongs to. */
import { HttpApiEndpoint } from "@effect/platform"
import { operation } from "../ApiDocs/Operation"
import { User } from "../Domain/User"
import { authenticatedGroup } from "./Authentication"

export class AccountApi extends authenticatedGroup("account", { title: "Account", description: "The caller's own user" })
  .add(
    HttpApiEndpoint.get("me", "/me")
      .addSuccess(User)
      .annotateContext(operation("getCurrentUser", {
        summary: "The user the bearer token belongs to",
        description: "A quick check of a token: its user's name, admin flag and quota."
      }))
  )
{}
