// Reading cell values the way office staff type them: trimmed text, yes/no flags, Excel dates.
import type { FieldError } from '../errors.js'
import { firstPerField } from '../validation.js'
import type { Cell } from './read.js'

/** A cell as text: trimmed, with numbers written out; undefined when empty. */
export function text(cell: Cell | undefined): string | undefined {
  if (cell === null || cell === undefined) return undefined
  const value = String(cell).trim()
  return value === '' ? undefined : value
}

export const isBlank = (cells: Cell[]) => cells.every((cell) => text(cell) === undefined)

const FLAGS: Record<string, boolean> = { true: true, yes: true, y: true, 1: true, false: false, no: false, n: false, 0: false }
export const FLAG_WORDS = 'true, false, yes, no, y, n, 1 or 0'

/** A yes/no cell: a real Excel boolean, 1 or 0, or one of the words in any case; empty is false. */
export function flag(cell: Cell | undefined): boolean | undefined {
  if (typeof cell === 'boolean') return cell
  const value = text(cell)
  return value === undefined ? false : FLAGS[value.toLowerCase()]
}

const DAY_MS = 86_400_000

/**
 * A date cell as `YYYY-MM-DD`: an Excel date (a day number, as SheetJS reads date cells) or text,
 * which the schema then checks; empty is undefined. Excel counts 1900-01-01 as day 1 and, as Lotus
 * 1-2-3 did, has a 29 February 1900: from day 61 (1 March 1900) on, days count from 1899-12-30.
 */
export function date(cell: Cell | undefined): string | undefined {
  if (typeof cell === 'number') {
    if (cell < 1) return String(cell)
    const day = Math.floor(cell)
    if (day === 60) return '1900-02-29' // Excel's day that never was: the schema refuses it
    return new Date(Date.UTC(1899, 11, day < 61 ? 31 : 30) + day * DAY_MS).toISOString().slice(0, 10)
  }
  return text(cell)
}

/** Why a row is skipped, from its validation errors, naming the columns as the file does. */
export const reasonOf = (errors: FieldError[], columns: Record<string, string>) =>
  firstPerField(errors)
    .map((error) => `${columns[error.field] ?? error.field} ${error.message}`)
    .join('; ')
