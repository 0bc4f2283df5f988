// Conversions between the API's values and their stored forms.

/** The time of the event, as the ISO 8601 UTC text every timestamp column holds. */
export const now = () => new Date().toISOString()

/**
 * The form name and e-mail lookups compare: Unicode-normalised, then case-folded through upper
 * case so that letters whose capitals are longer fold alike (`Straße` and `STRASSE`).
 */
export const foldCase = (text: string) => text.normalize('NFKC').toUpperCase().toLowerCase()

/** Integer cents to the JSON number of the API (exact to the cent: 1999 is 19.99). */
export const centsToAmount = (cents: number) => cents / 100

