/**
 * The HTTP contract of the service: every group, its security and the API-wide errors.
 * Contract only: the server, the OpenAPI document and typed clients are all derived from it.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./Admin/Api"
import { AccountApi } from "./Auth/Api"
import { BatchesApi } from "./Batches/Api"
import { documentForClients } from "./ApiDocs/Document"
import { InternalError, RequestTooLarge, ServiceUnavailable, ShuttingDown } from "./Domain/Errors"
import { FilesApi } from "./Files/Api"
import { HealthApi } from "./Health/Api"
import { documentRequestId } from "./Operations/RequestIdDocs"
import { PartsApi } from "./Parts/Api"
import { QuotaApi } from "./Quota/Api"
import { SessionsApi } from "./Sessions/Api"

export class Api extends HttpApi.make("ingest-portal")
  .add(HealthApi)
  .add(AccountApi)
  .add(SessionsApi)
  .add(PartsApi)
  .add(FilesApi)
  .add(BatchesApi)
  .add(QuotaApi)
  .add(AdminApi)
  .addError(RequestTooLarge)
  .addError(InternalError)
  .addError(ServiceUnavailable)
  .addError(ShuttingDown)
  .annotateContext(OpenApi.annotations({
    title: "Ingest Portal",
    version: "0.1.0",
    description: "Resumable, chunked file uploads: create a session, PUT its parts in any order and in parallel, " +
      "complete it into storage with a verified SHA-256.\n\n" +
      "Every endpoint but /health needs `Authorization: Bearer <token>`. Errors are JSON with a stable " +
      "`_tag`, a human `message` and the fields that help; responses carry an `X-Request-Id`.",
    // relative: the document is served by the instance it describes, whatever its address
    servers: [{ url: "/", description: "The server that serves this document" }],
    transform: (spec) => documentForClients(documentRequestId(spec))
  }))
{}
