/**
 * A SHA-256 whose state can be saved and continued later, in another process: what lets any
 * instance carry a file's digest on from the parts hashed so far. Neither Bun.CryptoHasher nor
 * node:crypto can export their state, so this uses the system OpenSSL's SHA256_Init/Update/Final
 * through bun:ffi, at native speed (SHA-NI where the CPU has it).
 *
 * The saved state is OpenSSL's own, in a documented order: H0..H7, the length in bits, and
 * the bytes of the unfinished block. Where libcrypto cannot be loaded, `resumableSha256` is
 * None and callers fall back to hashing what the store holds from the start.
 */
import { dlopen, FFIType } from "bun:ffi"
import { Option } from "effect"

/** sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len, all unsigned 32-bit. */
const CTX_SIZE = 112
const NUM_OFFSET = 104
const BLOCK = 64
/** Version 1: 32 bytes H, 8 bytes bit length (big-endian), the unfinished block's bytes. */
const VERSION = 1

export interface ResumableSha256 {
  update(chunk: Uint8Array): void
  /** The state after every byte so far; `resume` continues from it. */
  save(): Uint8Array
  /** The hex digest; the hasher cannot be used afterwards. */
  digest(): string
}

export interface ResumableSha256Factory {
  fresh(): ResumableSha256
  /** Continues a saved state; throws on one that is not a state this module saved. */
  resume(state: Uint8Array): ResumableSha256
}

const load = () => {
  const library = dlopen(process.platform === "darwin" ? "libcrypto.3.dylib" : "libcrypto.so.3", {
    SHA256_Init: { args: [FFIType.ptr], returns: FFIType.i32 },
    SHA256_Update: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    SHA256_Final: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 }
  })
  const { SHA256_Final, SHA256_Init, SHA256_Update } = library.symbols

  const hasher = (ctx: Uint8Array): ResumableSha256 => {
    const view = new DataView(ctx.buffer, ctx.byteOffset, CTX_SIZE)
    return {
      update: (chunk) => {
        // a zero-length typed array may have no address to pass
        if (chunk.byteLength > 0 && SHA256_Update(ctx, chunk, chunk.byteLength) !== 1) throw new Error("SHA256_Update failed")
      },
      save: () => {
        const pending = view.getUint32(NUM_OFFSET, true)
        const state = new Uint8Array(1 + 32 + 8 + pending)
        const out = new DataView(state.buffer)
        out.setUint8(0, VERSION)
        for (let i = 0; i < 8; i++) out.setUint32(1 + 4 * i, view.getUint32(4 * i, true))
        out.setUint32(33, view.getUint32(36, true)) // Nh: high 32 bits of the bit length
        out.setUint32(37, view.getUint32(32, true)) // Nl: low 32 bits
        state.set(ctx.subarray(40, 40 + pending), 41)
        return state
      },
      digest: () => {
        const digest = new Uint8Array(32)
        if (SHA256_Final(digest, ctx) !== 1) throw new Error("SHA256_Final failed")
        return Buffer.from(digest).toString("hex")
      }
    }
  }

  const fresh = () => {
    const ctx = new Uint8Array(CTX_SIZE)
    if (SHA256_Init(ctx) !== 1) throw new Error("SHA256_Init failed")
    return hasher(ctx)
  }

  const resume = (state: Uint8Array) => {
    const pending = state.byteLength - 41
    if (state[0] !== VERSION || pending < 0 || pending >= BLOCK) throw new Error("not a saved SHA-256 state")
    const input = new DataView(state.buffer, state.byteOffset, state.byteLength)
    const bits = input.getBigUint64(33)
    if (bits % 8n !== 0n || Number((bits / 8n) % BigInt(BLOCK)) !== pending) throw new Error("inconsistent SHA-256 state")
    const ctx = new Uint8Array(CTX_SIZE)
    if (SHA256_Init(ctx) !== 1) throw new Error("SHA256_Init failed")
    const view = new DataView(ctx.buffer)
    for (let i = 0; i < 8; i++) view.setUint32(4 * i, input.getUint32(1 + 4 * i), true)
    view.setUint32(32, input.getUint32(37), true)
    view.setUint32(36, input.getUint32(33), true)
    ctx.set(state.subarray(41), 40)
    view.setUint32(NUM_OFFSET, pending, true)
    return hasher(ctx)
  }

  // what this module assumes of the library, checked once against a known digest
  const probe = fresh()
  probe.update(new TextEncoder().encode("abc"))
  const check = resume(probe.save())
  if (check.digest() !== "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
    throw new Error("libcrypto's SHA256_CTX is not laid out as expected")
  }
  return { fresh, resume }
}

let loaded: Option.Option<ResumableSha256Factory> | undefined

/** The factory, when the system's libcrypto can be used (loaded on first call). */
export const resumableSha256 = (): Option.Option<ResumableSha256Factory> => (loaded ??= Option.liftThrowable(load)())
