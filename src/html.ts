// The few HTML pages: the upload page, an upload report, and a problem, for people using a browser.
import type { FastifyRequest } from 'fastify'
import type { ProblemDetail } from '../schemas/common.js'
import type { UploadReport } from '../schemas/upload.js'
import { ACCEPTED_EXTENSIONS } from './imports/formats.js'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (value: unknown) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!)

/**
 * The quality an Accept header gives a media type: that of its most specific matching range
 * (text/html before text/any before any/any), 0 when none matches.
 */
function quality(accept: string, type: string): number {
  const group = `${type.split('/')[0]}/*`
  let q = 0
  let specificity = -1
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase())
    const rank = range === type ? 2 : range === group ? 1 : range === '*/*' ? 0 : -1
    if (rank <= specificity) continue
    specificity = rank
    const given = params.find((param) => param.startsWith('q='))
    q = given === undefined ? 1 : Number(given.slice(2)) || 0
  }
  return q
}

/** Whether the client's Accept header ranks HTML above JSON, as a browser's form post does. */
export const prefersHtml = (request: FastifyRequest) => {
  const accept = request.headers.accept ?? ''
  return quality(accept, 'text/html') > quality(accept, 'application/json')
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
fieldset{margin:1.5rem 0;padding:1rem}legend{font-weight:600}label{display:block;margin:.75rem 0 .25rem}
input,select,button{font:inherit}button{display:block;margin-top:1rem;padding:.4rem 1rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1.5rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .6rem;text-align:left}
.hint{color:#444;font-size:.95rem}`

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · CRM API</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`
}

const accept = ACCEPTED_EXTENSIONS.join(',')

export function uploadPage(): string {
  return layout(
    'Upload customers and products',
    `<h1>Upload customers and products</h1>
<p>Load a list from Excel (<code>.xlsx</code>, <code>.xls</code>) or a CSV file (<code>.csv</code>, <code>.txt</code>).
Rows that cannot be stored are skipped; the report after the upload says which and why.</p>

<form action="/upload/customers" method="post" enctype="multipart/form-data">
<fieldset>
<legend>Customers</legend>
<p class="hint" id="custfile-hint">Columns in this order: Name, Email, Address, Phone, OptEmail, OptPhone, OptChat, Status.
Name, Email and Address are required (an existing customer being updated needs only Name and Email).
A spreadsheet may start with a header row; a CSV file has none.</p>
<label for="mode">When a row's e-mail address is already stored</label>
<select id="mode" name="mode">
<option value="insert">skip the row</option>
<option value="upsert">update that customer</option>
</select>
<label for="custfile">Customer file</label>
<input type="file" id="custfile" name="custfile" accept="${accept}" required aria-describedby="custfile-hint">
<button type="submit">Upload customers</button>
</fieldset>
</form>

<form action="/upload/products" method="post" enctype="multipart/form-data">
<fieldset>
<legend>Products</legend>
<p class="hint" id="prodfile-hint">Columns in this order: Name, Price, Purchased, Warranty, CustomerId.
Name and Price are required; Purchased defaults to today, Warranty to 2 years, and no CustomerId leaves the product unassigned.</p>
<label for="prodfile">Product file</label>
<input type="file" id="prodfile" name="prodfile" accept="${accept}" required aria-describedby="prodfile-hint">
<button type="submit">Upload products</button>
</fieldset>
</form>

<p>For developers: the <a href="/docs">API documentation</a> and the <a href="/openapi.json">OpenAPI document</a>.</p>`,
  )
}

export function reportPage(report: UploadReport): string {
  const rows = report.errors
    .map((error) => `<tr><td>${error.row}</td><td>${escapeHtml(error.reason)}</td></tr>`)
    .join('\n')
  const more =
    report.skipped > report.errors.length ? `<p>The first ${report.errors.length} of them are listed.</p>` : ''
  return layout(
    `Upload report ${report.id}`,
    `<h1>Upload of ${escapeHtml(report.filename)}</h1>
<dl>
<dt>Kind</dt><dd>${report.kind === 'customers' ? 'Customers' : 'Products'}</dd>
<dt>Rows read</dt><dd>${report.rows}</dd>
<dt>Stored as new</dt><dd>${report.inserted}</dd>
${report.kind === 'customers' ? `<dt>Updated</dt><dd>${report.updated}</dd>\n` : ''}<dt>Skipped</dt><dd>${report.skipped}</dd>
</dl>
${
  report.errors.length > 0
    ? `<h2>Skipped rows</h2>${more}
<table>
<thead><tr><th scope="col">Row</th><th scope="col">Reason</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : '<p>No row was skipped.</p>'
}
<p>Report number ${report.id}. <a href="/">Upload another file</a></p>`,
  )
}

export function problemPage(problem: ProblemDetail): string {
  return layout(
    problem.title,
    `<h1>${escapeHtml(problem.title)}</h1>
<p>${escapeHtml(problem.detail)}</p>
<p>Nothing was stored. <a href="/">Back to the upload page</a></p>`,
  )
}
