/**
 * Directories that a crash must not lose. A file that was fsynced can still vanish on power
 * loss if the directory entry naming it (or naming its directory) was never synced: so every
 * directory this module creates is synced into its parent, and `entries` syncs a directory
 * after names in it changed (a rename, a new file).
 */
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"

export class Durable {
  constructor(
    readonly root: string,
    readonly fsync: boolean,
    /** How a directory is synced; tests observe it. */
    readonly syncDirectory: (path: string) => Promise<void> = fsyncDirectory
  ) {}

  /** Creates `relative` (a path under the root) and each missing parent, each synced into its own parent. */
  async directory(relative: string): Promise<void> {
    let current = this.root
    for (const segment of relative.split("/")) {
      const next = NodePath.join(current, segment)
      const created = await fsp.mkdir(next).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === "EEXIST") return false
        throw error
      })
      if (created && this.fsync) await this.syncDirectory(current)
      current = next
    }
  }

  /** Makes the names in `relative` (a directory under the root) durable. */
  async entries(relative: string): Promise<void> {
    if (this.fsync) await this.syncDirectory(NodePath.join(this.root, relative))
  }
}

export const fsyncDirectory = async (path: string): Promise<void> => {
  const handle = await fsp.open(path, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
