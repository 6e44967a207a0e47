/**
 * The contract (src/Api.ts, and the `ingest-portal/api` entry src/Contract.ts) must be
 * importable by clients without the server: its import graph may reach the domain, the
 * groups and @effect/platform, never SQL, storage, the database drivers or the runtime.
 */
import { describe, expect, it } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

const root = resolve(import.meta.dir, "..")
const transpiler = new Bun.Transpiler({ loader: "ts" })

/** Every module reachable from `entry`: project files (relative to the root) and packages. */
const importGraph = (entry: string) => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    for (const { path } of transpiler.scanImports(readFileSync(file, "utf8"))) {
      if (!path.startsWith(".")) {
        packages.add(path.startsWith("@") ? path.split("/").slice(0, 2).join("/") : (path.split("/")[0] ?? path))
        continue
      }
      const target = [".ts", "/index.ts", ""].map((ending) => join(dirname(file), path) + ending).find(existsSync)
      if (target === undefined) throw new Error(`${file} imports ${path}, which does not exist`)
      visit(target)
    }
  }
  visit(join(root, entry))
  return { files: [...files].map((file) => relative(root, file)), packages: [...packages] }
}

const SERVER_PACKAGES = ["pg", "@effect/sql", "@effect/sql-pg", "@electric-sql/pglite", "@electric-sql/pglite-socket", "@effect/platform-bun"]
const SERVER_FILES = /^src\/(Sql|Repo|Config|Layers|Http|HttpErrors|Lease|main|cli)\.ts$|^src\/Storage\/|Repo\.ts$|\/Http\.ts$/

describe.each(["src/Api.ts", "src/Contract.ts"])("the contract %s", (entry) => {
  const graph = importGraph(entry)

  it("imports no database driver, SQL client or server runtime", () => {
    expect(graph.packages.filter((name) => SERVER_PACKAGES.includes(name))).toEqual([])
    expect(graph.packages.sort()).toEqual(["@effect/platform", "effect"])
  })

  it("reaches no repository, storage, configuration or handler module", () => {
    expect(graph.files.filter((file) => SERVER_FILES.test(file))).toEqual([])
    // it does reach what a client needs: the groups and the domain
    expect(graph.files).toContain("src/Sessions/Api.ts")
    expect(graph.files).toContain("src/Domain/Errors.ts")
  })
})

describe("the package", () => {
  it("exports the contract as its own entry beside the server's", () => {
    const manifest: { exports?: Record<string, string> } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
    expect(manifest.exports).toEqual({ ".": "./src/index.ts", "./api": "./src/Contract.ts" })
  })
})
