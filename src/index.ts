/**
 * Ingest Portal as a library: the HTTP contract (for typed clients and OpenAPI), the domain
 * schemas and errors, and the layers an Effect application composes to embed the service.
 */
export {
  AdminApi,
  CreatedUser,
  CreateUserRequest,
  IssueTokenRequest,
  OutboxPage,
  TokenPage,
  UpdateUserRequest,
  UserPage
} from "./Admin/Api"
export { Api } from "./Api"
export { AccountApi } from "./Auth/Api"
export { Authentication } from "./Auth/Authentication"
export { CurrentUser } from "./Domain/CurrentUser"
export { AuthenticationLive } from "./Auth/Http"
export { type ExternalIdentity, JwtVerifier } from "./Auth/Jwt"
export { Users } from "./Auth/Users"
export { BatchesApi } from "./Batches/Api"
export { Batches } from "./Batches/Batches"
export { type PortalSettings, PortalConfig, settingsConfig } from "./Config"
export * from "./Domain/Batch"
export * from "./Domain/Errors"
export * from "./Domain/File"
export * from "./Domain/Ids"
export * from "./Domain/Outbox"
export * from "./Domain/Session"
export * from "./Domain/User"
export { FilesApi } from "./Files/Api"
export { Files } from "./Files/Files"
export { HealthApi } from "./Health/Api"
export { ApiLive, BunServerLive, DocsLive, HttpAppLive, HttpLive } from "./Http"
export { BackgroundLive, DomainLive, ServicesLive, StorageLive } from "./Layers"
export { Outbox } from "./Outbox/Outbox"
export { Relay, RelayBackground } from "./Outbox/Relay"
export { sign as signWebhook, verifySignature as verifyWebhookSignature, webhookBody } from "./Outbox/Webhook"
export { PartsApi } from "./Parts/Api"
export { Parts } from "./Parts/Parts"
export { QuotaApi } from "./Quota/Api"
export { Quota } from "./Quota/Quota"
export { QuotaReport } from "./Domain/Quota"
export { SessionsApi } from "./Sessions/Api"
export { Finalizer } from "./Sessions/Finalizer"
export { Sessions } from "./Sessions/Sessions"
export { Sweeper, SweeperBackground } from "./Sweeper/Sweeper"
export { SweepReport } from "./Domain/Sweep"
export { embeddedLayer } from "./EmbeddedDatabase"
export { DatabaseLive, migrate, postgresLayer, SqlClientLive } from "./Sql"
export { LocalStorageLive, makeLocalStorage } from "./Storage/Local"
export * from "./Storage/Storage"
