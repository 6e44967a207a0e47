/**
 * Directories that a crash must not lose. A file that was fsynced can still vanish on power
 * loss if the directory entry naming it (or naming its directory) was never synced: so every
 * directory this module creates is synced into its parent, and `entries` syncs a directory
 * after names in it changed (a rename, a new file).
 */
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"

export class Durable {
  /** Directories known to exist (made or found here), so that each is made once. */
  private readonly known = new Set<string>()

  constructor(
    readonly root: string,
    readonly fsync: boolean,
    /** How a directory is synced; tests observe it. */
    readonly syncDirectory: (path: string) => Promise<void> = fsyncDirectory
  ) {}

  /** Creates `relative` (a path under the root) and each missing parent, each synced into its own parent. */
  async directory(relative: string): Promise<void> {
    if (this.known.has(relative)) return
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
    // a bounded memory: beyond this many, start again (at worst a mkdir that finds the folder there)
    if (this.known.size >= 10_000) this.known.clear()
    this.known.add(relative)
  }

  /** Forgets a directory that was removed. */
  removed(relative: string): void {
    for (const known of this.known) if (known === relative || known.startsWith(`${relative}/`)) this.known.delete(known)
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

export const fsyncFile = async (path: string): Promise<void> => {
  const handle = await fsp.open(path, "r")
  try {
    await handle.datasync()
  } finally {
    await handle.close()
  }
}
