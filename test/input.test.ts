// What input the API reads as written and what it refuses: numbers a double cannot carry, invisible and
// direction-changing text, and keys that would reach an object's prototype.
import t, { type Test } from 'tap'
import document from '../openapi.json' with { type: 'json' }
import { patternMessages } from '../schemas/common.js'
import { resolve, type Schema } from './arbitraries.js'
import {
  build,
  client,
  customerRecord,
  newCustomer,
  newProduct,
  PROBLEM_JSON,
  problemBody,
  type Reply,
  type TestApp,
} from './helper.js'

const ONE_LINE =
  'must be text on one line with a visible character, without control characters or text direction controls'
const LINES =
  'must be text with a visible character, without control characters or text direction controls ' +
  '(tabs and line breaks as CR or LF are allowed)'
const REFUSED_KEY = 'is a key that is refused (prototype pollution)'
const tooManyDigits = (value: number) => `has more digits than can be read exactly: it would become ${value}`

const stored = (app: TestApp, table: 'customers' | 'products' | 'feedback' | 'customer_requests') =>
  app.db.selectFrom(table).selectAll().orderBy('id').execute()

/** `text` as an ASCII string literal, for messages: TAP breaks lines at U+2028 as well. */
const shown = (text: string) =>
  JSON.stringify(text).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)

/** `response` is the 400 problem naming each of `errors`, in that order. */
function refused(t: Test, response: Reply, errors: { field: string; message: string }[], message: string) {
  t.equal(response.status, 400, message)
  t.equal(response.headers['content-type'], PROBLEM_JSON, message)
  const count = errors.length === 1 ? '1 invalid field' : `${errors.length} invalid fields`
  const list = errors.map((error) => `${error.field} ${error.message}`).join('; ')
  t.same(response.body, problemBody(response, 400, `The request has ${count}: ${list}.`, errors), message)
}

/** A JSON body with `text` standing for the value `marker` holds in `body`: a number written exactly so. */
const withRaw = (body: Record<string, unknown>, raw: Record<string, string>) =>
  Object.entries(raw).reduce(
    (json, [field, text]) => json.replace(`"${field}":"RAW"`, `"${field}":${text}`),
    JSON.stringify(body),
  )

t.test('an integer given as a string must be digits: a near-integer is refused, not rounded to a record', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const grace = (await api.post('/api/add/customer', newCustomer({ name: 'Grace', email: 'grace@example.com' }))).body
  for (const id of ['0.99999999999999999', '1.9999999999999999', '1.0', '2.5']) {
    const res = await api.get(`/api/get/customer?id=${id}`)
    refused(t, res, [{ field: 'id', message: 'must be integer' }], `?id=${id}`)
    const inBody = await api.get('/api/get/customer', { body: { id } })
    refused(t, inBody, [{ field: 'id', message: 'must be integer' }], `{"id": "${id}"}`)
  }
  const update = await api.post('/api/update/customer', { id: '0.99999999999999999', name: 'Someone else' })
  refused(t, update, [{ field: 'id', message: 'must be integer' }], 'an update by a near-integer id')
  const negative = await api.get('/api/get/customer?id=-1')
  refused(t, negative, [{ field: 'id', message: 'must be >= 1' }], 'a minus sign is read, and the minimum refuses it')
  t.same((await api.get('/api/get/customer?id=2')).body, grace, 'digits still find the record')
  t.same((await api.get('/api/get/customer', { body: { id: '1' } })).body, ada, 'also in a body')
  t.same(
    (await stored(app, 'customers')).map((row) => row.name),
    ['Ada Lovelace', 'Grace'],
    'nothing was changed',
  )
})

t.test('a number given as a string is read only when a double carries it as written', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const long = await api.post('/api/add/product', newProduct(ada.id, { price: '19.999999999999999999' }))
  refused(t, long, [{ field: 'price', message: tooManyDigits(20) }], 'a price that would be rounded to 20')
  const three = await api.post('/api/add/product', newProduct(ada.id, { price: '19.999' }))
  refused(t, three, [{ field: 'price', message: 'must have at most two decimals' }], 'three decimals')
  const huge = await api.post('/api/add/product', newProduct(ada.id, { customerid: '9007199254740993' }))
  refused(t, huge, [{ field: 'customerid', message: 'must be <= 9007199254740991' }], 'a whole number past 2^53')
  t.same(await stored(app, 'products'), [], 'nothing stored')
  const fine = await api.post('/api/add/product', newProduct(ada.id, { price: '19.990000000000000000' }))
  t.equal(fine.status, 201, 'trailing zeros change nothing')
  t.equal(fine.body.price, 19.99)
})

t.test('a JSON number with more digits than a double carries is refused, naming the field', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body

  const price = await api.post('/api/add/product', undefined, {
    payload: withRaw(newProduct(ada.id, { price: 'RAW' }), { price: '19.999999999999999999' }),
  })
  refused(t, price, [{ field: 'price', message: tooManyDigits(20) }], 'a price that would be rounded to 20')

  const both = await api.post('/api/add/product', undefined, {
    payload: withRaw(newProduct(ada.id, { price: 'RAW', customerid: 'RAW' }), {
      price: '1.0000000000000000001',
      customerid: '0.99999999999999999',
    }),
  })
  refused(
    t,
    both,
    [
      { field: 'price', message: tooManyDigits(1) },
      { field: 'customerid', message: tooManyDigits(1) },
    ],
    'every such number at once',
  )

  const range = await api.post('/api/add/product', undefined, {
    payload: withRaw(newProduct(ada.id, { price: 'RAW', warranty: 'RAW' }), { price: '1e400', warranty: '1e-400' }),
  })
  refused(
    t,
    range,
    [
      { field: 'price', message: 'is too large a number to be read' },
      { field: 'warranty', message: 'is too close to zero to be read: it would become 0' },
    ],
    'out of range either way',
  )

  const lookup = await api.get('/api/get/customer', { payload: '{"id": 0.99999999999999999}' })
  refused(t, lookup, [{ field: 'id', message: tooManyDigits(1) }], 'a GET body: no customer 1 for 0.99999999999999999')
  const nested = await api.get('/api/get/customer', {
    payload: '{"id": 1, "extra": {"x": [1, 2.00000000000000000001]}}',
  })
  refused(t, nested, [{ field: 'extra.x.1', message: tooManyDigits(2) }], 'a nested value is named by its path')
  const whole = await api.post('/api/add/customer', undefined, { payload: '0.30000000000000000001' })
  refused(t, whole, [{ field: '(body)', message: tooManyDigits(0.3) }], 'a body that is one number')
  t.same(await stored(app, 'products'), [], 'nothing stored')
})

t.test('ordinary JSON numbers are read as written', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = (await api.post('/api/add/customer', newCustomer())).body
  const cases: [string, number][] = [
    ['19.99', 19.99],
    ['1e2', 100],
    ['2', 2],
    ['0.10', 0.1],
    ['249.990000000000000000000', 249.99],
    ['-0', 0],
    ['1234567.89', 1234567.89],
  ]
  for (const [text, price] of cases) {
    const res = await api.post('/api/add/product', undefined, {
      payload: withRaw(newProduct(ada.id, { price: 'RAW' }), { price: text }),
    })
    t.equal(res.status, 201, text)
    t.equal(res.body.price, price, text)
  }
  const largest = await api.get('/api/get/customer', { payload: '{"id": 9007199254740991}' })
  t.equal(largest.status, 404, 'the largest id is read as written')
  t.same(largest.body, problemBody(largest, 404, 'Customer 9007199254740991 does not exist.'))
  const decimalId = await api.get('/api/get/customer', { payload: '{"id": 1.0}' })
  t.equal(decimalId.status, 200, 'a JSON 1.0 is the number 1')
  t.equal(decimalId.body.id, ada.id)
})

t.test('every number a request takes has a maximum within 2^53, where whole numbers are exact', async (t) => {
  const unbounded: string[] = []
  let numbers = 0
  const visit = (schema: Schema, where: string) => {
    const resolved = resolve(schema, document)
    const types = ([] as string[]).concat(resolved.type ?? [])
    const numeric = types.includes('integer') || types.includes('number')
    if (numeric) numbers++
    if (numeric && !(resolved.maximum !== undefined && resolved.maximum <= Number.MAX_SAFE_INTEGER)) {
      unbounded.push(where)
    }
    for (const [name, property] of Object.entries(resolved.properties ?? {})) visit(property, `${where}.${name}`)
    if (resolved.items) visit(resolved.items, `${where}[]`)
  }
  interface Operation {
    operationId: string
    parameters?: { name: string; schema: Schema }[]
    requestBody?: { content: Record<string, { schema: Schema }> }
  }
  for (const methods of Object.values(document.paths as unknown as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(methods)) {
      for (const parameter of operation.parameters ?? []) {
        visit(parameter.schema, `${operation.operationId} ${parameter.name}`)
      }
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        visit(media.schema, operation.operationId)
      }
    }
  }
  t.ok(numbers > 20, `${numbers} numbers checked`)
  t.same(unbounded, [], 'a larger whole number would be read rounded')
})

t.test('one-line text refuses invisible values, text direction controls and line separators', async (t) => {
  const app = await build(t)
  const api = client(app)
  const refusedNames = [
    '\u200b',
    '\u0301',
    ' \u0300\u0301 ',
    '\u200d\u2060\ufeff',
    '\u00ad',
    '\u3164',
    '\u2800',
    '\ufe0f',
    'a\u202eb',
    'a\u202ab',
    '\u2066Ada\u2069',
    'Ada\u200f',
    'Ada\u200e',
    'Ada\u061c',
    'a\u2028b',
    'a\u2029b',
  ]
  for (const name of refusedNames) {
    const res = await api.post('/api/add/customer', newCustomer({ name }))
    refused(t, res, [{ field: 'name', message: ONE_LINE }], shown(name))
  }
  const heading = await api.post('/api/add/brand/feedback', { customerid: 1, heading: '\u200b', body: 'Fine.' })
  refused(t, heading, [{ field: 'heading', message: ONE_LINE }], 'a heading')
  const lookup = await api.get('/api/get/customer?name=%E2%80%8B')
  refused(t, lookup, [{ field: 'name', message: ONE_LINE }], 'a lookup by an invisible name')
  t.same(await stored(app, 'customers'), [], 'nothing stored')

  const visible = ['Zoë', 'Zoe\u0308', 'नमस्ते', 'עברית', 'محمد', '👩‍👩‍👧', 'Ada\u00a0Lovelace', '😀', 'x\u200b']
  for (const [index, name] of visible.entries()) {
    const res = await api.post('/api/add/customer', newCustomer({ name, email: `c${index}@example.com` }))
    t.equal(res.status, 201, shown(name))
    t.same(res.body, customerRecord(index + 1, res.body.created, { name, email: `c${index}@example.com` }))
  }
})

t.test('multi-line text refuses the same, and keeps tabs and line breaks', async (t) => {
  const app = await build(t)
  const api = client(app)
  for (const address of ['\u200b\n', '\n\u0301', 'a\u202eb', 'Main St\u2067 1', 'a\u2028b', 'a\u2029b', 'a\u200fb']) {
    const res = await api.post('/api/add/customer', newCustomer({ address }))
    refused(t, res, [{ field: 'address', message: LINES }], shown(address))
  }
  t.same(await stored(app, 'customers'), [], 'nothing stored')
  const ada = await api.post('/api/add/customer', newCustomer({ address: '12 St James Square\r\nLondon\tSW1' }))
  t.equal(ada.status, 201, 'line breaks and tabs')
  const body = await api.post('/api/add/brand/feedback', { customerid: 1, heading: 'Fine', body: 'Good\u202e.' })
  refused(t, body, [{ field: 'body', message: LINES }], 'a feedback body')
  const ticket = await api.post('/api/open/customer/request', { customerid: 1, request: '\u200b' })
  refused(t, ticket, [{ field: 'request', message: LINES }], 'a ticket')
  t.same(await stored(app, 'feedback'), [], 'no feedback stored')
  t.same(await stored(app, 'customer_requests'), [], 'no ticket stored')
})

t.test('every text pattern means the same with and without the `u` flag, for every character', async (t) => {
  const patterns = Object.keys(patternMessages).filter((pattern) => patternMessages[pattern] !== undefined)
  for (const pattern of patterns) {
    const [plain, unicode] = [new RegExp(pattern), new RegExp(pattern, 'u')]
    const differs: string[] = []
    const check = (text: string) => {
      if (plain.test(text) !== unicode.test(text)) differs.push(shown(text))
    }
    for (let unit = 0; unit <= 0xffff; unit++) {
      const char = String.fromCharCode(unit)
      check(char)
      check(`a${char}`)
    }
    for (let point = 0x10000; point <= 0x10ffff; point++) {
      const char = String.fromCodePoint(point)
      check(char)
      check(`a${char}`)
    }
    t.same(differs.slice(0, 10), [], pattern.slice(0, 80))
  }
})

t.test('a __proto__ key in a body is refused by name', async (t) => {
  const app = await build(t)
  const api = client(app)
  const ada = JSON.stringify(newCustomer())
  const cases: [string, string][] = [
    [ada.replace('{', '{"__proto__": {"status": "active"},'), '__proto__'],
    [ada.replace('{', '{"\\u005f_proto__": {},'), '__proto__'],
    [ada.replace('{', '{"constructor": {"prototype": {"admin": true}},'), 'constructor.prototype'],
    [ada.replace('"name"', '"phone": {"a": [{"__proto__": 1}]}, "name"'), 'phone.a.0.__proto__'],
  ]
  for (const [payload, field] of cases) {
    const res = await api.post('/api/add/customer', undefined, { payload })
    refused(t, res, [{ field, message: REFUSED_KEY }], payload)
  }
  const lookup = await api.get('/api/get/customer', { payload: '{"id": 1, "__proto__": {"id": 2}}' })
  refused(t, lookup, [{ field: '__proto__', message: REFUSED_KEY }], 'a GET body')
  t.same(await stored(app, 'customers'), [], 'nothing stored')
  const harmless = await api.post('/api/add/customer', newCustomer({ name: '__proto__ constructor prototype' }))
  t.equal(harmless.status, 201, 'the words in a value are only text')
})
