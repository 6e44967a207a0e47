/**
 * Where a tus upload stands, as pure rules over what the database records: its offset is the
 * number of bytes durably stored contiguously from the first (received parts, then parts
 * whose fragments cover them, then the fragments that start the next part), and a byte
 * offset names one part and a position inside it. No I/O.
 */
import { partByteRange, type PartRange } from "../Domain/Session"
import type { Fragment } from "./TusRepo"

export interface Layout {
  readonly total_size_bytes: number
  readonly chunk_size_bytes: number
  readonly total_parts: number
}

export interface Standing {
  readonly offset: number
  /** Parts whose fragments cover them whole, not yet written as parts. */
  readonly whole: ReadonlyArray<{ readonly partNumber: number; readonly fragments: ReadonlyArray<Fragment> }>
  /** The fragments that start the part at the offset, in order (none at a part boundary). */
  readonly started: ReadonlyArray<Fragment>
  /** Fragments that count for nothing: of received parts, or past a gap. */
  readonly stale: ReadonlyArray<Fragment>
}

const isReceived = (ranges: ReadonlyArray<PartRange>, partNumber: number) =>
  ranges.some(([first, last]) => first <= partNumber && partNumber <= last)

/** The fragments of one part that follow each other from its first byte, and how many bytes they cover. */
const chainOf = (fragments: ReadonlyArray<Fragment>) => {
  const chain: Array<Fragment> = []
  let covered = 0
  for (const fragment of [...fragments].sort((a, b) => a.part_offset - b.part_offset)) {
    if (fragment.part_offset !== covered) continue
    chain.push(fragment)
    covered += fragment.size_bytes
  }
  return { chain, covered }
}

export const standing = (
  layout: Layout,
  received: ReadonlyArray<PartRange>,
  fragments: ReadonlyArray<Fragment>
): Standing => {
  const byPart = new Map<number, Array<Fragment>>()
  for (const fragment of fragments) byPart.set(fragment.part_number, [...(byPart.get(fragment.part_number) ?? []), fragment])
  const whole: Array<Standing["whole"][number]> = []
  const counted = new Set<string>()
  let offset = 0
  let started: ReadonlyArray<Fragment> = []
  for (let partNumber = 1; partNumber <= layout.total_parts; partNumber++) {
    const { size } = partByteRange(layout, partNumber)
    if (isReceived(received, partNumber)) {
      offset += size
      continue
    }
    const { chain, covered } = chainOf(byPart.get(partNumber) ?? [])
    chain.forEach((fragment) => counted.add(fragment.id))
    offset += Math.min(covered, size)
    if (covered >= size) {
      whole.push({ partNumber, fragments: chain })
      continue
    }
    started = chain
    break
  }
  return { offset, whole, started, stale: fragments.filter((fragment) => !counted.has(fragment.id)) }
}

/** The part that byte `offset` of the file falls in, and where inside it. */
export const positionOf = (layout: Layout, offset: number) => {
  const partNumber = Math.floor(offset / layout.chunk_size_bytes) + 1
  const { size } = partByteRange(layout, partNumber)
  const partOffset = offset - (partNumber - 1) * layout.chunk_size_bytes
  return { partNumber, partOffset, size, rest: size - partOffset }
}
