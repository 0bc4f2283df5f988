// RFC 4180 CSV written as a stream, safe to open in a spreadsheet.
import type { CellValue, Column } from './xlsx.js'

/**
 * A field as RFC 4180 wants it, with formula-like text neutralised as OWASP recommends: text
 * starting with =, +, -, @, a tab or a carriage return (after spaces, too) gets a leading
 * apostrophe, so that a spreadsheet shows it as text instead of running it.
 */
function field(type: Column['type'], value: CellValue): string {
  if (value === null) return ''
  let text = String(value)
  if (type === 'text' && /^([=+\-@\t\r]|\s+[=+\-@])/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) || text !== String(value) ? `"${text.replaceAll('"', '""')}"` : text
}

/** The CSV text: a UTF-8 byte order mark (so Excel reads accents), the header, then the rows; CRLF line ends. */
export async function* csvText(columns: Column[], rows: AsyncIterable<CellValue[][]>): AsyncGenerator<string> {
  yield `\ufeff${columns.map((column) => field('text', column.name)).join(',')}\r\n`
  for await (const page of rows) {
    let chunk = ''
    for (const values of page) {
      chunk += `${columns.map((column, i) => field(column.type, values[i] ?? null)).join(',')}\r\n`
    }
    yield chunk
  }
}
