/**
 * The service as its own process (`bun src/main.ts`), for what a test cannot do to an
 * in-process app: kill it with SIGKILL, stop it with SIGSTOP, watch it exit.
 */
import { join } from "node:path"

const root = join(import.meta.dir, "..", "..")

export interface Instance {
  readonly process: Bun.Subprocess<"ignore", "pipe", "pipe">
  readonly baseUrl: string
  readonly pid: number
  /** Everything it printed on stdout and stderr so far. */
  readonly output: () => string
  readonly stop: () => Promise<number>
}

/** Starts the service with `env` on top of the test process's environment; resolves once it listens. */
export const startInstance = async (env: Record<string, string>): Promise<Instance> => {
  const child = Bun.spawn([process.execPath, join(root, "src", "main.ts")], {
    cwd: root,
    // at info, so that it says where it listens
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...env, LOG_LEVEL: "info" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe"
  })
  let output = ""
  const decoder = new TextDecoder()
  void (async () => {
    for await (const chunk of child.stdout) output += decoder.decode(chunk)
  })()
  const reader = child.stderr.getReader()
  const listening = await (async () => {
    while (true) {
      const { done, value } = await reader.read()
      if (done) return undefined
      output += decoder.decode(value)
      const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(output)
      if (match?.[1] !== undefined) return match[1]
    }
  })()
  if (listening === undefined) throw new Error(`the instance exited before listening:\n${output}`)
  // keep draining stderr, so a chatty instance never blocks on a full pipe
  void (async () => {
    while (true) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
      if (done) return
      output += decoder.decode(value)
    }
  })()
  return {
    process: child,
    baseUrl: `http://127.0.0.1:${listening}`,
    pid: child.pid,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      return child.exited
    }
  }
}
