// Reading cell values the way office staff type them: trimmed text, yes/no flags, Excel dates.
import { type FieldError, firstPerField } from '../problems.js'
import type { Cell } from './read.js'

/** A cell as text: trimmed, with numbers written out; undefined when empty. */
export function text(cell: Cell | undefined): string | undefined {
  if (cell === null || cell === undefined) return undefined
  const value = String(cell).trim()
  return value === '' ? undefined : value
}

export const isBlank = (cells: Cell[]) => cells.every((cell) => text(cell) === undefined)

const FLAGS: Record<string, boolean> = {
  true: true,
  yes: true,
  y: true,
  1: true,
  false: false,
  no: false,
  n: false,
  0: false,
}
export const FLAG_WORDS = 'true, false, yes, no, y, n, 1 or 0'

/** A yes/no cell: a real Excel boolean, 1 or 0, or one of the words in any case; empty is false. */
export function flag(cell: Cell | undefined): boolean | undefined {
  if (typeof cell === 'boolean') return cell
  const value = text(cell)
  return value === undefined ? false : FLAGS[value.toLowerCase()]
}

/** Why a row is skipped, from its validation errors, naming the columns as the file does. */
export const reasonOf = (errors: FieldError[], columns: Record<string, string>) =>
  firstPerField(errors)
    .map((error) => `${columns[error.field] ?? error.field} ${error.message}`)
    .join('; ')
