/** The bearer-token security of the API: contract only, importable by clients. */
import { HttpApiGroup, HttpApiMiddleware, HttpApiSecurity, OpenApi } from "@effect/platform"
import { CurrentUser } from "../Domain/CurrentUser"
import { Unauthorized } from "../Domain/Errors"

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Portal/Authentication", {
  failure: Unauthorized,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** A group whose every endpoint needs the bearer token, with its title and description in the OpenAPI document. */
export const authenticatedGroup = <const Id extends string>(
  id: Id,
  docs: { readonly title: string; readonly description: string }
) => HttpApiGroup.make(id).middleware(Authentication).annotateContext(OpenApi.annotations(docs))
