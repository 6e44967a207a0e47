/**
 * A process that tries to take the embedded database's lock on DATA_DIR (argv[2]) and, if it
 * gets it, says "locked" and holds it for argv[3] milliseconds; exit code 3 when refused.
 */
import { Duration, Effect, Exit } from "effect"
import { lockDataDirectory } from "../../src/EmbeddedDatabase"

const [directory = "", holdMillis = "1000"] = process.argv.slice(2)
const exit = await Effect.runPromiseExit(
  Effect.scoped(
    lockDataDirectory(directory).pipe(
      Effect.zipRight(Effect.sync(() => console.log("locked"))),
      Effect.zipRight(Effect.sleep(Duration.millis(Number(holdMillis))))
    )
  )
)
if (Exit.isFailure(exit)) {
  console.log("refused")
  process.exit(3)
}
