// A one-sheet XLSX workbook written as a stream: rows go out as they come, and memory stays flat.
import { ZipWriter } from '../zip.js'

/** A value as a column holds it: what the JSON API shows for the field, null when it has none. */
export type CellValue = string | number | boolean | null

/** How a column's values are written: as numbers, money (two decimals), booleans, dates, timestamps or text. */
export type ColumnType = 'number' | 'money' | 'boolean' | 'date' | 'timestamp' | 'text'
export interface Column {
  name: string
  type: ColumnType
  width: number
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }
/** Anything outside XML 1.0's `Char` production (section 2.2): controls, lone surrogates, U+FFFE and U+FFFF. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu
/** Text as XML: escaped, and any character XML 1.0 cannot hold (stored before today's rules) as U+FFFD. */
const xml = (text: string) => text.replace(/[&<>"]/g, (c) => XML_ESCAPES[c]!).replace(NOT_XML_CHAR, '\uFFFD')

const DAY_MS = 86_400_000
const EXCEL_EPOCH = Date.UTC(1899, 11, 30)
/**
 * An ISO date or timestamp (UTC) as an Excel day number, its time of day as the fraction. Excel
 * counts a 29 February 1900 that never was: before 1 March 1900 (day 61) its days are one fewer.
 */
function excelDay(iso: string) {
  const day = (Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso) - EXCEL_EPOCH) / DAY_MS
  return day < 61 ? day - 1 : day
}

// Styles (cellXfs): 0 plain, 1 bold header, 2 date, 3 date and time, 4 money.
const STYLE = { header: 1, date: 2, timestamp: 3, money: 4 } as const

/**
 * One cell. Text is always an inline string, never a formula: `=SUM(A1)` stays those characters.
 * An empty value is an empty cell, so the cells after it keep their columns.
 */
function cell(type: ColumnType, value: CellValue): string {
  if (value === null) return '<c/>'
  switch (type) {
    case 'number':
      return `<c><v>${value}</v></c>`
    case 'money':
      return `<c s="${STYLE.money}"><v>${value}</v></c>`
    case 'boolean':
      return `<c t="b"><v>${value ? 1 : 0}</v></c>`
    case 'date':
      return `<c s="${STYLE.date}"><v>${excelDay(String(value))}</v></c>`
    case 'timestamp':
      return `<c s="${STYLE.timestamp}"><v>${excelDay(String(value))}</v></c>`
    default:
      return textCell(String(value))
  }
}

const textCell = (text: string, style?: number) =>
  `<c t="inlineStr"${style ? ` s="${style}"` : ''}><is><t${/^\s|\s$|\n/.test(text) ? ' xml:space="preserve"' : ''}>${xml(text)}</t></is></c>`

/** The sheet's XML: frozen header row, column widths, then the rows, in chunks of about 64 KB. */
async function* sheetXml(columns: Column[], rows: AsyncIterable<CellValue[][]>): AsyncGenerator<string> {
  const widths = columns.map(
    (column, i) => `<col min="${i + 1}" max="${i + 1}" width="${column.width}" customWidth="1"/>`,
  )
  yield (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' +
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' +
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>' +
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>' +
    `<sheetFormatPr defaultRowHeight="15"/><cols>${widths.join('')}</cols><sheetData>` +
    `<row r="1">${columns.map((column) => textCell(column.name, STYLE.header)).join('')}</row>`
  )
  let r = 1
  let chunk = ''
  for await (const page of rows) {
    for (const values of page) {
      let line = `<row r="${++r}">`
      for (let i = 0; i < columns.length; i++) line += cell(columns[i]!.type, values[i] ?? null)
      chunk += `${line}</row>`
      if (chunk.length > 65_536) {
        yield chunk
        chunk = ''
      }
    }
  }
  yield `${chunk}</sheetData></worksheet>`
}

const CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
  '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' +
  '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>' +
  '</Types>'

const ROOT_RELS =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>' +
  '</Relationships>'

const workbookXml = (sheetName: string) =>
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' +
  `<sheets><sheet name="${xml(sheetName)}" sheetId="1" r:id="rId1"/></sheets></workbook>`

const WORKBOOK_RELS =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>' +
  '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>' +
  '</Relationships>'

const STYLES =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' +
  '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>' +
  '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>' +
  '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>' +
  '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
  '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
  '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
  '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>' +
  '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
  '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' +
  '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>' +
  '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'

/**
 * The bytes of a workbook of one sheet, `sheetName`: the header row of `columns`, then every row of
 * `rows`. Rows are read only as the bytes before them are taken.
 */
export async function* xlsxBytes(
  sheetName: string,
  columns: Column[],
  rows: AsyncIterable<CellValue[][]>,
): AsyncGenerator<Buffer> {
  const zip = new ZipWriter()
  yield* zip.entry('[Content_Types].xml', [CONTENT_TYPES])
  yield* zip.entry('_rels/.rels', [ROOT_RELS])
  yield* zip.entry('xl/workbook.xml', [workbookXml(sheetName)])
  yield* zip.entry('xl/_rels/workbook.xml.rels', [WORKBOOK_RELS])
  yield* zip.entry('xl/styles.xml', [STYLES])
  yield* zip.entry('xl/worksheets/sheet1.xml', sheetXml(columns, rows))
  yield zip.finish()
}
