/** The service's building blocks, composed once for main, the CLI and the tests. */
import { Effect, Layer } from "effect"
import { Users } from "./Auth/Users"
import { Batches } from "./Batches/Batches"
import { Files } from "./Files/Files"
import { Outbox } from "./Outbox/Outbox"
import { Relay, RelayBackground } from "./Outbox/Relay"
import { Parts } from "./Parts/Parts"
import { Quota } from "./Quota/Quota"
import { Finalizer } from "./Sessions/Finalizer"
import { Sessions } from "./Sessions/Sessions"
import { SweeperBackground, Sweeper } from "./Sweeper/Sweeper"
import { PortalConfig } from "./Config"
import { DatabaseLive } from "./Sql"
import { LocalStorageLive } from "./Storage/Local"
import { InFlight } from "./Shutdown"
import { Metrics } from "./Operations/Metrics"
import { S3StorageLive } from "./Storage/S3"
import { TusUploads } from "./Tus/TusUploads"

/** The configured storage: the local filesystem under DATA_DIR, or an S3-compatible bucket. */
export const StorageLive = Layer.unwrapEffect(
  Effect.map(PortalConfig, (config) => (config.storageBackend === "local" ? LocalStorageLive : S3StorageLive))
)

/** Every domain service; needs a Storage, a SqlClient and the PortalConfig. */
export const DomainLive = Layer.mergeAll(
  Users.Default,
  Sessions.Default,
  Parts.Default,
  Finalizer.Default,
  Files.Default,
  Batches.Default,
  Quota.Default,
  Sweeper.Default,
  Outbox.Default,
  Relay.Default,
  InFlight.Default,
  Metrics.Default,
  TusUploads.Default
)

/** What every instance runs in the background while it serves: the sweeper and the relay. */
export const BackgroundLive = Layer.scopedDiscard(
  Effect.zipRight(Effect.forkScoped(SweeperBackground), Effect.forkScoped(RelayBackground))
)

/** Every domain service, over the configured database and storage. */
export const ServicesLive = DomainLive.pipe(
  Layer.provideMerge(StorageLive),
  Layer.provideMerge(DatabaseLive)
)
