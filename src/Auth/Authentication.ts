/** The bearer-token security of the API: contract only, importable by clients. */
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context } from "effect"
import { Unauthorized } from "../Domain/Errors"
import type { User } from "../Domain/User"

/** The authenticated caller, provided to every handler behind `Authentication`. */
export class CurrentUser extends Context.Tag("Portal/CurrentUser")<CurrentUser, User>() {}

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Portal/Authentication", {
  failure: Unauthorized,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
