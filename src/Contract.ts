/**
 * The contract of the service, importable without the server (`ingest-portal/api`): the
 * HttpApi with its groups, the security scheme, the domain schemas and errors. A typed client
 * is one call away: `HttpApiClient.make(Api, { baseUrl })`. Nothing imported from here
 * reaches SQL, storage or the runtime (test/Contract.test.ts walks the imports to keep it so).
 */
export { AdminApi, OutboxPage } from "./Admin/Api"
export { Api } from "./Api"
export { AccountApi } from "./Auth/Api"
export { Authentication } from "./Auth/Authentication"
export { BatchesApi, BatchFilesPage, BatchPage, CreateBatchRequest } from "./Batches/Api"
export * from "./Domain/Batch"
export { contentDigestOf, sha256FromContentDigest } from "./Domain/Checksum"
export * from "./Domain/Common"
export { CurrentUser } from "./Domain/CurrentUser"
export * from "./Domain/Errors"
export * from "./Domain/File"
export * from "./Domain/Ids"
export * from "./Domain/Outbox"
export * from "./Domain/Quota"
export * from "./Domain/Session"
export * from "./Domain/Sweep"
export * from "./Domain/User"
export { DownloadHeaders, FilesApi } from "./Files/Api"
export { HealthApi, HealthReport, Unhealthy } from "./Health/Api"
export { PartHeaders, PartReceipt, PartsApi } from "./Parts/Api"
export { QuotaApi } from "./Quota/Api"
export {
  CompleteRequest,
  CreatedSession,
  CreateSessionRequest,
  SessionPage,
  SessionsApi,
  SessionSummary,
  SessionView,
  UploadLimits
} from "./Sessions/Api"
