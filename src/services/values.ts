// Conversions between the API's values and their stored forms.
import { type SelectQueryBuilder, sql } from 'kysely'
import type { Database } from '../../schemas/database.js'
import type { Page } from '../../schemas/common.js'
import { invalid } from '../problems.js'

/** The time of the event, as the ISO 8601 UTC text every timestamp column holds. */
export const now = () => new Date().toISOString()

/** The time `ms` from now, written as `now()` writes it (leases and expiries). */
export const later = (ms: number) => new Date(Date.now() + ms).toISOString()

/**
 * The form name and e-mail lookups compare: Unicode-normalised, then case-folded through upper
 * case so that letters whose capitals are longer fold alike (`Straße` and `STRASSE`).
 */
export const foldCase = (text: string) =>
  // ASCII (most names and e-mail addresses) folds the same by lower case alone, and much faster.
  ASCII.test(text) ? text.toLowerCase() : text.normalize('NFKC').toUpperCase().toLowerCase()
const ASCII = /^\p{ASCII}*$/u

/** Integer cents to the JSON number of the API (exact to the cent: 1999 is 19.99). */
export const centsToAmount = (cents: number) => cents / 100

/**
 * A JSON amount to integer cents. The schema's `multipleOf: 0.01` allows for binary rounding;
 * this makes sure the number really is one with at most two decimals (0.0100001 is not).
 */
export function amountToCents(amount: number, field: string): number {
  const cents = Math.round(amount * 100)
  if (cents / 100 !== amount) throw invalid(field, 'must have at most two decimals')
  return cents
}

/**
 * `date` (`YYYY-MM-DD`) plus whole `years`, by the calendar: the same month and day, or the last
 * day of that month when it is shorter (29 February plus one year is 28 February).
 */
export function addYears(date: string, years: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number]
  const target = year + years
  const lastDay = new Date(Date.UTC(target, month, 0)).getUTCDate()
  const result = new Date(Date.UTC(target, month - 1, Math.min(day, lastDay)))
  return result.toISOString().slice(0, 10)
}

/** One page of a list: every list of the API is in id order (`query.$call(paged(page))`). */
export const paged =
  (page: Page) =>
  <T extends keyof Database, O>(query: SelectQueryBuilder<Database, T, O>) =>
    query.orderBy(sql.ref('id')).limit(page.limit).offset(page.offset)
