// A workbook as wide as Excel allows, small on the wire: for the tests and `npm run bench`.
import * as XLSX from 'xlsx'

/**
 * An .xlsx whose row 1 holds `first` and whose every row, 1 to `rows`, has a cell in column XFD
 * (the last of 16,384): a few hundred KB for 20,000 rows. Its sheet is written as XML here:
 * SheetJS's writer walks every column of every row.
 */
export function wideWorkbook(first: string[], rows: number): Buffer {
  const cells = first.map(
    (value, c) => `<c r="${XLSX.utils.encode_col(c)}1" t="inlineStr"><is><t>${value}</t></is></c>`,
  )
  const sheet = [
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
    `<dimension ref="A1:XFD${rows}"/><sheetData>`,
  ]
  for (let r = 1; r <= rows; r++) {
    sheet.push(`<row r="${r}">${r === 1 ? cells.join('') : ''}<c r="XFD${r}"><v>1</v></c></row>`)
  }
  sheet.push('</sheetData></worksheet>')
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet([['x']]), 'Sheet1')
  const zip = XLSX.CFB.read(XLSX.write(book, { type: 'buffer', bookType: 'xlsx' }) as Buffer, { type: 'buffer' })
  const index = zip.FullPaths.findIndex((path: string) => path.endsWith('xl/worksheets/sheet1.xml'))
  zip.FileIndex[index]!.content = Buffer.from(sheet.join(''))
  return XLSX.CFB.write(zip, { type: 'buffer', fileType: 'zip', compression: true }) as Buffer
}
