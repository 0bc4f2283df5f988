// Generators for the fuzz tests (test/fuzz.test.ts): valid inputs built from the OpenAPI document's
// schemas, the ways to break them, and the raw forms requests travel in (query strings, JSON, multipart).
import fc from 'fast-check'
import * as XLSX from 'xlsx'

/** The part of JSON Schema the document uses for inputs. */
export interface Schema {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: Schema[]
  oneOf?: Schema[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  multipleOf?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  examples?: unknown[]
}

/** One documented operation, as the fuzzer drives it. */
export interface Operation {
  id: string
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  /** Where its inputs go: the query string (or a JSON body), a JSON body, or a multipart form. */
  kind: 'query' | 'json' | 'upload'
  /** The inputs as one object schema: the query parameters, or the JSON body. */
  input: Schema
  /** An upload's form (its `multipart/form-data` schema) and the columns of its rows, in file order. */
  form?: Schema
  columns?: Schema[]
  /** Whether its failures may be HTML pages (a browser's form post). */
  html: boolean
  /** The whole document, for `$ref`s. */
  root: unknown
}

/** One request the fuzzer sends, with a note of how its input was made (or broken). */
export interface Case {
  how: string
  method: Operation['method']
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
  /** Whether the Accept header asks for HTML over JSON (undefined for junk: either answer is right). */
  wantsHtml: boolean | undefined
}

/** A JSON number written exactly as given (`1e400`, `9007199254740993`), which a JS number cannot hold. */
export class RawJson {
  constructor(readonly text: string) {}
  [fc.toStringMethod]() {
    return `raw(${this.text})`
  }
}

/** Follows local `$ref`s (`#/components/schemas/Customer`) until a schema that is not one. */
export function resolve(schema: Schema, root: unknown): Schema {
  let current = schema
  for (let hops = 0; current.$ref !== undefined; hops++) {
    const ref = current.$ref
    if (hops > 20 || !ref.startsWith('#/')) throw new Error(`cannot resolve $ref ${ref}`)
    const keys = ref
      .slice(2)
      .split('/')
      .map((key) => decodeURIComponent(key).replaceAll('~1', '/').replaceAll('~0', '~'))
    const target = keys.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root)
    if (!target || typeof target !== 'object') throw new Error(`$ref ${ref} points at nothing`)
    current = target
  }
  return current
}

/** A short, escaped picture of a value for case descriptions. */
export function preview(value: unknown, limit = 60): string {
  const text = value instanceof RawJson ? value.text : typeof value === 'string' ? JSON.stringify(value) : toJson(value)
  if (text === '') return 'undefined'
  return text.length <= limit ? text : `${text.slice(0, limit)}…(${text.length} chars)`
}

// ---------------------------------------------------------------------------------------------
// Valid values

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
const ALPHANUMERIC = `${LETTERS}0123456789`

/** Characters of ordinary text: mostly ASCII letters, some punctuation, accents, other scripts and emoji. */
const friendlyChar = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...LETTERS) },
  { weight: 4, arbitrary: fc.constantFrom(' ', '-', "'", '.', ',', '0', '1', '7', '&', '<', '"', '=') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'é',
      'ü',
      'ß',
      'Å',
      'ø',
      'Ł',
      'İ',
      'ı',
      'ﬁ',
      'Σ',
      'ς',
      'ж',
      '漢',
      '字',
      'ש',
      'ل',
      '😀',
      '👍🏽',
    ),
  },
)

/** Values that other requests send too, so that lookups by name sometimes find something. */
const COMMON_TEXT = ['Ada Lovelace', 'ADA LOVELACE', 'Élodie', 'ÉLODIE', 'Straße', 'STRASSE']

/** Printable text that keeps to the schema's pattern and lengths (counted in code points, as Ajv does). */
function textOf(schema: Schema): fc.Arbitrary<string> {
  const pattern = schema.pattern === undefined ? undefined : new RegExp(schema.pattern, 'u')
  const min = Math.max(schema.minLength ?? 0, 1)
  const max = schema.maxLength ?? Infinity
  const fits = (text: string) => (pattern?.test(text) ?? true) && [...text].length >= min && [...text].length <= max
  const longest = Math.max(min, Math.floor(Math.min(max, 60) / 2))
  const random = fc.string({ unit: friendlyChar, minLength: min, maxLength: longest })
  const common = [...(schema.examples ?? []), ...COMMON_TEXT].filter(
    (value): value is string => typeof value === 'string' && fits(value),
  )
  const either = common.length
    ? fc.oneof({ weight: 3, arbitrary: random }, { weight: 1, arbitrary: fc.constantFrom(...common) })
    : random
  return either.filter(fits)
}

const alphanumeric = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...ALPHANUMERIC), minLength: 1, maxLength })

/** Plain e-mail addresses, some of them the same but for case, so duplicates happen. */
const emailAddress = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(alphanumeric(10), alphanumeric(8), fc.constantFrom('com', 'org', 'co.uk', 'de'))
      .map(([local, domain, tld]) => `${local}@${domain}.${tld}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('ada@example.com', 'ADA@example.com', 'grace@example.com', 'Grace@Example.COM'),
  },
)

const dayOf = (date: Date) => date.toISOString().slice(0, 10)
const anyDate = fc.date({
  min: new Date('1900-01-01T00:00:00Z'),
  max: new Date('2999-12-31T23:59:59Z'),
  noInvalidDate: true,
})

/** Strings by format: dates, timestamps and e-mail addresses; any other by pattern. */
function stringOf(schema: Schema): fc.Arbitrary<string> {
  if (schema.format === 'date') {
    return fc.oneof(anyDate.map(dayOf), fc.constantFrom('2024-02-29', '1900-01-01', '2999-12-31'))
  }
  if (schema.format === 'date-time') return anyDate.map((date) => date.toISOString())
  if (schema.format === 'email') return emailAddress.filter((text) => text.length <= (schema.maxLength ?? Infinity))
  return textOf(schema)
}

/** Any whole number from `min` to `max`, also beyond 32 bits. */
const wideInteger = (min: number, max: number) => fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number)

/** Whole numbers, mostly small (ids of records that exist), sometimes anywhere in range or at its ends. */
function integerOf(schema: Schema): fc.Arbitrary<number> {
  const min = schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : (schema.minimum ?? -1000)
  const max = schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : (schema.maximum ?? 1_000_000)
  return fc.oneof(
    { weight: 8, arbitrary: wideInteger(min, Math.min(max, min + 25)) },
    { weight: 1, arbitrary: wideInteger(min, max) },
    { weight: 1, arbitrary: fc.constantFrom(min, max) },
  )
}

/** Numbers in range; a `multipleOf` is kept by building them from whole multiples (cents for 0.01). */
function numberOf(schema: Schema): fc.Arbitrary<number> {
  const min = schema.minimum ?? -1e6
  const max = schema.maximum ?? 1e6
  const step = schema.multipleOf
  if (step === undefined) return fc.double({ min, max, noNaN: true, noDefaultInfinity: true })
  const decimals = (String(step).split('.')[1] ?? '').length
  const low = Math.ceil(min / step)
  const high = Math.floor(max / step)
  return fc
    .oneof(
      { weight: 6, arbitrary: wideInteger(low, Math.min(high, low + 100_000)) },
      { weight: 1, arbitrary: wideInteger(low, high) },
    )
    .map((multiple) => Number((multiple * step).toFixed(decimals)))
}

/** A number or boolean, sometimes in the string form the API also reads (`"5"`, `"true"`). */
const withStringForm = <T extends number | boolean>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: arbitrary }, { weight: 1, arbitrary: arbitrary.map(String) })

/** A valid value for `schema`. */
export function validValue(schema: Schema, root: unknown): fc.Arbitrary<unknown> {
  const resolved = resolve(schema, root)
  if (resolved.enum) return fc.constantFrom(...resolved.enum)
  if (resolved.const !== undefined) return fc.constant(resolved.const)
  const alternatives = resolved.anyOf ?? resolved.oneOf
  if (alternatives) return fc.oneof(...alternatives.map((alternative) => validValue(alternative, root)))
  const types = ([] as string[]).concat(resolved.type ?? (resolved.properties ? 'object' : 'string'))
  if (types.length > 1) {
    const each = types.map((type) => ({
      weight: type === 'null' ? 1 : 4,
      arbitrary: validValue({ ...resolved, type }, root),
    }))
    return fc.oneof(...each)
  }
  switch (types[0]) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return withStringForm(fc.boolean())
    case 'integer':
      return withStringForm(integerOf(resolved))
    case 'number':
      return withStringForm(numberOf(resolved))
    case 'object':
      return objectOf(resolved, root)
    case 'array':
      return fc.array(validValue(resolved.items ?? {}, root), { maxLength: 3 })
    default:
      return stringOf(resolved)
  }
}

/** A valid object: every required property, and mostly one of the optional ones (sometimes none or several). */
export function objectOf(schema: Schema, root: unknown): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  const required = new Set(schema.required ?? [])
  const optional = names.filter((name) => !required.has(name))
  const values = fc.record(Object.fromEntries(names.map((name) => [name, validValue(properties[name]!, root)])))
  // Lookups take exactly one key and updates at least one attribute: one optional property is the common case.
  const chosen: fc.Arbitrary<string[]> = optional.length
    ? fc.oneof(
        { weight: 3, arbitrary: fc.subarray(optional, { minLength: 1, maxLength: 1 }) },
        { weight: 1, arbitrary: fc.constant<string[]>([]) },
        { weight: 1, arbitrary: fc.subarray(optional) },
      )
    : fc.constant<string[]>([])
  return fc.tuple(values, chosen).map(([all, keep]) => {
    const kept = names.filter((name) => required.has(name) || keep.includes(name))
    return Object.fromEntries(kept.map((name) => [name, all[name]]))
  })
}

// ---------------------------------------------------------------------------------------------
// Junk

/** Numbers that are legal JSON but odd: huge, tiny, negative zero, past 2^53, fractional, negative. */
export const oddNumber: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      1e308,
      -1e308,
      -0,
      1.0000000001,
      2 ** 53,
      2 ** 53 + 2,
      -1,
      -1.5,
      0.5,
      1.5,
      0.1 + 0.2,
      19.999,
      0.0100000001,
      1e-7,
      5e-324,
      1e21,
      10_000_000.01,
      2 ** 31,
      2 ** 32,
      -(2 ** 63),
      1001,
      51,
      11,
    ),
  },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.integer() },
)

/** JSON numbers written in ways a JS number would change: out of range, beyond 2^53, long decimals. */
export const rawNumber = fc
  .constantFrom(
    '1e400',
    '-1e400',
    '9007199254740993',
    '1.0000000000000000001',
    '0.0100000001',
    '1E2',
    '-0',
    '-0.0',
    '5.00',
    '1e-400',
    `1${'0'.repeat(40)}`,
    '0.99999999999999999',
    '19.999999999999999999',
  )
  .map((text) => new RawJson(text))

/** Numbers as strings, some the API reads (`"5"`) and most it must not. */
export const numberString = fc.constantFrom(
  '5',
  '5.0',
  ' 5',
  '5 ',
  '+5',
  '-5',
  '05',
  '0x10',
  '1e3',
  '1E3',
  '5.',
  '.5',
  'NaN',
  'Infinity',
  '-Infinity',
  '٥',
  '５',
  '5\u0000',
  '1,000',
  '9007199254740993',
  '1e308',
  '1e309',
  '-0',
  'true',
  'false',
  'null',
  '[1]',
  '{}',
  '19.999',
  '0.99999999999999999',
  '1.9999999999999999',
  '19.999999999999999999',
)

/** Characters that trouble text handling: lone surrogates, non-characters, bidi marks, NUL and controls, emoji. */
const nastyChar = fc.constantFrom(
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\ufffe',
  '\uffff',
  '\u200e',
  '\u200f',
  '\u202e',
  '\u2066',
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\u001b',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009f',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\u00a0',
  '\u3000',
  '\t',
  '\n',
  '\r',
  '\u0301',
  '😀',
  '👩‍👩‍👧',
  '\u{10FFFF}',
  '\u{E0001}',
  'İ',
  'ß',
  'ﬃ',
  'Å',
  '%',
  '\\',
  '"',
  "'",
  '<',
  '>',
  '&',
  '=',
  '+',
  '@',
  ';',
  ',',
  '/',
  '?',
  '#',
  '*',
  '_',
  '[',
  ']',
  '{',
  '}',
)

/** Short strings full of troublesome characters. */
export const unicodeJunk = fc.string({
  unit: fc.oneof(
    { weight: 3, arbitrary: nastyChar },
    { weight: 2, arbitrary: friendlyChar },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  ),
  minLength: 1,
  maxLength: 30,
})

/** Junk that can stand in a multipart header (no quote, CR or LF). */
const headerSafeJunk = unicodeJunk.filter((text) => !/["\r\n]/.test(text))

/** Strings that are empty or look empty. */
export const blank = fc.constantFrom(
  '',
  ' ',
  '   ',
  '\t',
  '\n',
  '\r\n',
  '\u00a0',
  '\u3000',
  '\u200b',
  '\ufeff',
  '\u00ad',
  '\u3164',
  '\u2800',
  '\u0301',
  '\u200d\u2060',
)

/** Long strings: past each maxLength, and past the 64 KiB body limit (up to about 100 KB). */
export const hugeString = fc
  .record({
    size: fc.constantFrom(201, 255, 501, 5_001, 16_385, 65_537, 100_000),
    unit: fc.constantFrom('x', 'é', '😀', ' ', '\u0000', 'ab '),
  })
  .map(({ size, unit }) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size))

/** An array nested `depth` deep. */
function nestedArray(depth: number): unknown {
  let value: unknown = 1
  for (let level = 0; level < depth; level++) value = [value]
  return value
}

/** Objects and arrays where a scalar belongs, including prototype-polluting keys and deep nesting. */
export const nestedJunk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(64, 1000).map(nestedArray) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      JSON.parse('{"__proto__":{"admin":true}}'),
      JSON.parse('{"constructor":{"prototype":{"admin":true}}}'),
      { $ref: '#' },
      { toString: 1, validValue: 2 },
    ),
  },
)

/** A value of the wrong kind for almost any field. */
export const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(null, true, false, 0, '', [], {}) },
  { weight: 3, arbitrary: oddNumber },
  { weight: 2, arbitrary: rawNumber },
  { weight: 3, arbitrary: numberString },
  { weight: 3, arbitrary: unicodeJunk },
  { weight: 2, arbitrary: blank },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: nestedJunk },
)

/** Names of fields that do not exist, and near misses of ones that do. */
const unknownKey = (names: string[]) =>
  fc.oneof(
    fc.constantFrom('extra', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', '$where'),
    ...(names.length
      ? [
          fc.constantFrom(...names).map((name) => name.toUpperCase()),
          fc.constantFrom(...names).map((name) => ` ${name}`),
        ]
      : []),
    unicodeJunk,
  )

/** An input object (or something else), with a note of how it was made. */
export interface Input {
  value: unknown
  how: string
}

/** `value` with one more own property, even one named `__proto__`. */
const withProperty = (value: Record<string, unknown>, key: string, extra: unknown) =>
  Object.defineProperty({ ...value }, key, { value: extra, enumerable: true, configurable: true, writable: true })

/**
 * Valid inputs made invalid in one way or several: a required field dropped, unknown fields added,
 * values replaced by junk or by another field's valid value, or not an object at all.
 */
export function brokenOf(
  schema: Schema,
  root: unknown,
  valid: fc.Arbitrary<Record<string, unknown>>,
): fc.Arbitrary<Input> {
  const properties = schema.properties ?? {}
  const names = Object.keys(properties)
  const required = schema.required ?? []
  const anyName = names.length ? fc.constantFrom(...names) : fc.constant('id')
  // Another field's valid value: a date where a number belongs, an e-mail address for a name.
  const confusing = names.length ? fc.oneof(...names.map((name) => validValue(properties[name]!, root))) : junkValue
  const wrong = fc.oneof({ weight: 4, arbitrary: junkValue }, { weight: 1, arbitrary: confusing })
  return fc.oneof(
    fc.tuple(valid, fc.nat()).map(([value, index]) => {
      const pool = required.length ? required : Object.keys(value)
      const key = pool[index % Math.max(pool.length, 1)]
      const copy = { ...value }
      if (key !== undefined) delete copy[key]
      return { value: copy, how: key === undefined ? 'nothing to drop' : `without ${key}` }
    }),
    fc.tuple(valid, unknownKey(names), junkValue).map(([value, key, extra]) => ({
      value: withProperty(value, key, extra),
      how: `with unknown field ${preview(key)} = ${preview(extra)}`,
    })),
    fc.tuple(valid, anyName, wrong).map(([value, key, replacement]) => ({
      value: { ...value, [key]: replacement },
      how: `${key} = ${preview(replacement)}`,
    })),
    fc.tuple(valid, fc.array(fc.tuple(anyName, wrong), { minLength: 2, maxLength: 4 })).map(([value, changes]) => ({
      value: { ...value, ...Object.fromEntries(changes) },
      how: changes.map(([key, replacement]) => `${key} = ${preview(replacement, 30)}`).join(', '),
    })),
    fc
      .oneof(
        junkValue,
        valid.map((value) => [value]),
      )
      .map((value) => ({ value, how: `not an object: ${preview(value)}` })),
    fc.constant({ value: {}, how: 'empty object' }),
    fc.tuple(valid, fc.constantFrom(100, 3000)).map(([value, count]) => ({
      value: { ...value, ...Object.fromEntries(Array.from({ length: count }, (_, index) => [`k${index}`, index])) },
      how: `with ${count} unknown fields`,
    })),
  )
}

// ---------------------------------------------------------------------------------------------
// Encodings

/** JSON text, with `RawJson` numbers written as given ('' for undefined). */
export function toJson(value: unknown): string {
  const raws: string[] = []
  const marker = 'RAW\u2063JSON'
  const text = JSON.stringify(value, (_key, item: unknown) =>
    item instanceof RawJson ? `${marker}${raws.push(item.text) - 1}${marker}` : item,
  ) as string | undefined
  if (text === undefined) return ''
  if (!raws.length) return text
  return text.replace(new RegExp(`"${marker}(\\d+)${marker}"`, 'g'), (_match, index: string) => raws[Number(index)]!)
}

/** The bytes of a code point in UTF-8; a lone surrogate gets the (invalid) bytes WTF-8 gives it. */
function wtf8(point: number): number[] {
  if (point < 0x80) return [point]
  if (point < 0x800) return [0xc0 | (point >> 6), 0x80 | (point & 63)]
  if (point < 0x10000) return [0xe0 | (point >> 12), 0x80 | ((point >> 6) & 63), 0x80 | (point & 63)]
  return [0xf0 | (point >> 18), 0x80 | ((point >> 12) & 63), 0x80 | ((point >> 6) & 63), 0x80 | (point & 63)]
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/** Percent-encodes everything but unreserved characters; a space as `%20` or `+`. */
export function percentEncode(text: string, space: '%20' | '+' = '%20'): string {
  let out = ''
  for (const char of text) {
    if (UNRESERVED.test(char)) out += char
    else if (char === ' ') out += space
    else for (const byte of wtf8(char.codePointAt(0)!)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** How a query string writes what has no one way: null, spaces, objects. */
export interface QueryStyle {
  nullAs: 'null' | 'empty' | 'bare'
  space: '%20' | '+'
  objectAs: 'json' | 'brackets'
}

export const queryStyle: fc.Arbitrary<QueryStyle> = fc.record({
  nullAs: fc.constantFrom('null', 'empty', 'bare'),
  space: fc.constantFrom('%20', '+'),
  objectAs: fc.constantFrom('json', 'brackets'),
})

/**
 * A query string for an object: arrays as repeated keys, objects as JSON text or `key[sub]=`
 * pairs, `null` as the word, nothing, or a bare key, as `style` says.
 */
export function queryString(params: Record<string, unknown>, style: QueryStyle): string {
  const pairs: string[] = []
  const encode = (text: string) => percentEncode(text, style.space)
  const add = (name: string, value: unknown): void => {
    if (value === undefined) return
    if (value === null) {
      pairs.push(style.nullAs === 'bare' ? encode(name) : `${encode(name)}=${style.nullAs === 'null' ? 'null' : ''}`)
    } else if (value instanceof RawJson) {
      pairs.push(`${encode(name)}=${encode(value.text)}`)
    } else if (Array.isArray(value)) {
      if (value.length === 0) pairs.push(`${encode(name)}=`)
      for (const item of value) add(name, item)
    } else if (typeof value === 'object') {
      if (style.objectAs === 'json') pairs.push(`${encode(name)}=${encode(toJson(value))}`)
      else for (const [sub, item] of Object.entries(value)) add(`${name}[${sub}]`, item)
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      pairs.push(`${encode(name)}=${encode(String(value))}`)
    } else {
      throw new TypeError(`a ${typeof value} has no form in a query string`)
    }
  }
  for (const [name, value] of Object.entries(params)) add(name, value)
  return pairs.join('&')
}

/** Query string pieces no encoder would write: bad escapes, invalid UTF-8, empty keys, repeated keys. */
export const rawQueryJunk = (names: string[]) => {
  const fixed = fc.constantFrom(
    '&',
    '&&',
    '=',
    '==',
    '=1',
    '%',
    '%zz',
    '%E0%A4%A',
    '%ED%A0%80',
    '%FF%FE',
    '%00',
    '%C0%80',
    '+',
    ';',
    '?',
    'a[]=1',
    'a[b]=1',
    '__proto__=1',
    '__proto__[admin]=1',
    'constructor[prototype][admin]=1',
    'hasOwnProperty=1',
    'toString=1',
  )
  if (!names.length) return fixed
  const name = fc.constantFrom(...names)
  return fc.oneof(
    fixed,
    fc
      .tuple(name, fc.constantFrom('1', '2', '', '%ED%A0%80', 'x'))
      .map(([key, value]) => `${key}=${value}&${key}=${value}`),
    fc
      .tuple(name, fc.constantFrom('%', '%zz', '%ED%A0%80', '%00', '%FF', '1%00', '%2B5', '%205'))
      .map(([key, value]) => `${key}=${value}`),
    name,
  )
}

// ---------------------------------------------------------------------------------------------
// Headers and raw bodies

export interface Accept {
  accept: string | undefined
  wantsHtml: boolean | undefined
}

/** Accept headers, with whether each asks for HTML over JSON (undefined for junk: either answer is right). */
export const acceptHeader: fc.Arbitrary<Accept> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ accept: undefined, wantsHtml: false }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      { accept: 'application/json', wantsHtml: false },
      { accept: 'application/problem+json', wantsHtml: false },
      { accept: '*/*', wantsHtml: false },
      { accept: 'image/png', wantsHtml: false },
      { accept: 'text/html;q=0.1, application/json', wantsHtml: false },
      { accept: 'text/html;q=0', wantsHtml: false },
      { accept: 'text/html', wantsHtml: true },
      { accept: 'TEXT/HTML', wantsHtml: true },
      { accept: 'text/*', wantsHtml: true },
      { accept: 'application/json;q=0.5, text/html', wantsHtml: true },
      { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', wantsHtml: true },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((accept) => ({ accept, wantsHtml: undefined })),
  },
)

/** JSON Content-Type headers: mostly plain, sometimes with a charset. */
const jsonType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'application/json;charset=UTF-8') },
)

/** Content-Type headers that are not plain `application/json`, some of them still JSON. */
export const oddContentType = fc.oneof(
  fc.constantFrom(
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
    'multipart/form-data; boundary=x',
    'application/xml',
    'text/csv',
    'application/octet-stream',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'APPLICATION/JSON',
    'application/json;',
    'application/vnd.api+json',
    'application/jsonx',
    'application/*',
    '*/*',
    ';;;',
    ' ',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
)

/** Bodies that are not (one) JSON value, JSON of an odd kind, or too large. */
export const rawBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":',
    '}',
    'null',
    '[]',
    '""',
    '1',
    'true',
    ' ',
    '\u0000',
    '{"id":1}{"id":2}',
    "{'id':1}",
    '{"id":1,}',
    'undefined',
    'NaN',
    '{"id":NaN}',
    '{"id":Infinity}',
    '\ufeff{}',
    '{"__proto__":{"admin":true}}',
    '{"id":1,"id":2}',
    'id=1&name=x',
    '<xml/>',
    '{"a":"\\ud800"}',
    '{"a":"\\u0000"}',
    '['.repeat(10_000),
  ),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(70_000, 100_000).map((size) => `{"id":1${' '.repeat(size)}}`),
)

// ---------------------------------------------------------------------------------------------
// Uploads

const csvSpecials = fc.constantFrom(
  '=SUM(A1)',
  '+1',
  '-1',
  '@x',
  '"',
  '""',
  'a,b',
  'a\nb',
  '\r',
  ' padded ',
  'TRUE',
  'yes',
  'Y',
  'n',
  '0',
  '1',
  '1e3',
  '2024-02-30',
  '1899-12-31',
  '45351',
  '19.999',
  '-5',
  'ACTIVE',
  'Suspended',
  'x@',
  '@x.com',
  '"unclosed',
)

/** Text of a spreadsheet cell for a column: usually a valid value, sometimes empty or junk. */
function cellOf(column: Schema, root: unknown): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: validValue(column, root).map((value) =>
        value === null ? '' : String(value as string | number | boolean),
      ),
    },
    { weight: 1, arbitrary: fc.constant('') },
    { weight: 2, arbitrary: fc.oneof(csvSpecials, unicodeJunk, numberString, blank) },
  )
}

/** Rows of cells for an upload's columns: up to 5 rows, some cut short or with extra cells. */
function rowsOf(columns: Schema[], root: unknown): fc.Arbitrary<string[][]> {
  const cells = fc.tuple(...columns.map((column) => cellOf(column, root)))
  const row = fc
    .tuple(cells, fc.nat(columns.length + 2), fc.boolean())
    .map(([all, length, cut]) =>
      cut ? all.slice(0, length) : [...all, ...Array.from({ length: length % 3 }, () => 'extra')],
    )
  return fc.array(row, { maxLength: 5 })
}

export interface CsvStyle {
  quoting: 'needed' | 'all' | 'none'
  lineEnd: '\n' | '\r\n' | '\r'
  bom: boolean
  header: boolean
  finalLineEnd: boolean
}

const csvStyle: fc.Arbitrary<CsvStyle> = fc.record({
  quoting: fc.constantFrom('needed', 'needed', 'needed', 'all', 'none'),
  lineEnd: fc.constantFrom('\n', '\r\n', '\r'),
  bom: fc.boolean(),
  header: fc.boolean(),
  finalLineEnd: fc.boolean(),
})

/** CSV text for rows: quoted as RFC 4180 says, always, or never (which may break the file). */
export function csvText(rows: string[][], style: CsvStyle): string {
  const quoted = (cell: string) => style.quoting === 'all' || (style.quoting === 'needed' && /[",\r\n]/.test(cell))
  const quote = (cell: string) => (quoted(cell) ? `"${cell.replaceAll('"', '""')}"` : cell)
  const lines = [...(style.header ? [['Name', 'Email']] : []), ...rows].map((cells) => cells.map(quote).join(','))
  return `${style.bom ? '\ufeff' : ''}${lines.join(style.lineEnd)}${style.finalLineEnd ? style.lineEnd : ''}`
}

/** A small workbook (`.xlsx`, or `.xls` in the BIFF8 format) holding rows, numbers as number cells. */
function workbookOf(rows: string[][], bookType: 'xlsx' | 'biff8'): Buffer {
  const cells = rows.map((row) =>
    row.map((cell) => (cell !== '' && Number.isFinite(Number(cell)) ? Number(cell) : cell)),
  )
  const book = XLSX.utils.book_new()
  XLSX.utils.book_append_sheet(book, XLSX.utils.aoa_to_sheet(cells), 'Sheet1')
  return XLSX.write(book, { type: 'buffer', bookType }) as Buffer
}

export interface FileContent {
  content: string | Buffer
  extension: string
  how: string
}

/** Files that are wrong in one known way each. */
const oddFiles = fc.constantFrom<FileContent>(
  { content: Buffer.from('Ad\xe9le,adele@example.com,Paris\n', 'latin1'), extension: '.csv', how: 'latin-1 text' },
  { content: 'Ada,ada@example.com,Lon\u0000don\n', extension: '.csv', how: 'a NUL byte' },
  { content: '', extension: '.csv', how: 'empty file' },
  { content: 'Ada,"ada@example.com,London\nGrace,grace@example.com,NYC\n', extension: '.csv', how: 'unclosed quote' },
  { content: '\ufeff', extension: '.txt', how: 'only a BOM' },
  { content: '\n\n\r\n,,,\n', extension: '.csv', how: 'blank rows' },
)

/** Magic bytes of a ZIP (.xlsx) or OLE2 (.xls) file, then junk. */
const magicThenJunk = fc
  .tuple(fc.constantFrom('PK\x03\x04', '\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1'), fc.uint8Array({ maxLength: 300 }))
  .map(([magic, bytes]): FileContent => ({
    content: Buffer.concat([Buffer.from(magic, 'latin1'), Buffer.from(bytes)]),
    extension: magic.startsWith('PK') ? '.xlsx' : '.xls',
    how: 'workbook magic then junk',
  }))

/** A file's content and the extension it should carry: mostly CSV, sometimes workbooks, binary junk or bad text. */
export function fileContentOf(columns: Schema[], root: unknown): fc.Arbitrary<FileContent> {
  const rows = rowsOf(columns, root)
  const csv = fc.tuple(rows, csvStyle, fc.constantFrom('.csv', '.txt')).map(([cells, style, extension]) => ({
    content: csvText(cells, style),
    extension,
    how: `csv (${style.quoting} quoted)`,
  }))
  const workbook = fc.tuple(rows, fc.constantFrom('xlsx' as const, 'biff8' as const)).map(([cells, type]) => ({
    content: workbookOf(cells, type),
    extension: type === 'xlsx' ? '.xlsx' : '.xls',
    how: `${type} workbook`,
  }))
  const bytes = fc
    .uint8Array({ maxLength: 300 })
    .map((random) => ({ content: Buffer.from(random), extension: '.csv', how: 'random bytes' }))
  return fc.oneof(
    { weight: 12, arbitrary: csv },
    { weight: 1, arbitrary: workbook },
    { weight: 1, arbitrary: bytes },
    { weight: 1, arbitrary: magicThenJunk },
    { weight: 1, arbitrary: oddFiles },
  )
}

/** File names before the extension: ordinary, with odd characters, path parts, quotes and line breaks. */
const fileBase = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('customers', 'products', 'list', 'a') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '../../etc/passwd',
      'name with spaces',
      'ünïcødé',
      '😀',
      'a;b',
      'a\\b',
      '.hidden',
      '',
      'CON',
      'x'.repeat(300),
      'a"b',
      'a\r\nb',
      '%22',
    ),
  },
  { weight: 1, arbitrary: headerSafeJunk },
)

const otherExtension = fc.constantFrom(
  '.pdf',
  '',
  '.CSV',
  '.TXT',
  '.xlsx',
  '.xls',
  '.csv',
  '.txt',
  '.exe',
  '.csv.',
  '.',
  '.xlsm',
  '.json',
)

export interface FormPart {
  name: string
  filename?: string
  type?: string
  content: string | Buffer
}
export interface Form {
  boundary: string
  parts: FormPart[]
  preamble: string
  /** Closed by the final boundary, never closed, or cut after this many bytes (modulo the length). */
  ending: 'closed' | 'unclosed' | number
  epilogue: string
}

/** A multipart/form-data body written by hand, so it can also be broken (unclosed, cut short, odd headers). */
export function encodeForm(form: Form): Buffer {
  const chunks: Buffer[] = [Buffer.from(form.preamble)]
  for (const part of form.parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`
    const type = part.type === undefined ? '' : `Content-Type: ${part.type}\r\n`
    const disposition = `Content-Disposition: form-data; name="${part.name}"${filename}`
    chunks.push(
      Buffer.from(`--${form.boundary}\r\n${disposition}\r\n${type}\r\n`),
      Buffer.from(part.content),
      Buffer.from('\r\n'),
    )
  }
  if (form.ending !== 'unclosed') chunks.push(Buffer.from(`--${form.boundary}--\r\n${form.epilogue}`))
  const body = Buffer.concat(chunks)
  return typeof form.ending === 'number' ? body.subarray(0, form.ending % (body.length + 1)) : body
}

interface FilePart {
  part: FormPart
  how: string
}

/** The file part of an upload: generated content under a field name, file name and part Content-Type. */
function filePartOf(operation: Operation, fileFields: string[]): fc.Arbitrary<FilePart> {
  const partType = fc.constantFrom(
    'text/csv',
    'application/octet-stream',
    'application/vnd.ms-excel',
    'text/plain; charset=latin1',
    'image/png',
  )
  return fc
    .tuple(
      fileContentOf(operation.columns ?? [{ type: 'string' }], operation.root),
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...fileFields, 'file') },
        { weight: 1, arbitrary: fc.constantFrom('', 'mode', 'x y') },
      ),
      fileBase,
      fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: otherExtension }),
      fc.option(partType, { freq: 2 }),
    )
    .map(([file, name, base, extension, type]) => {
      const filename = `${base}${extension ?? file.extension}`
      return {
        part: { name, filename, content: file.content, ...(type !== null && { type }) },
        how: `${file.how} as ${preview(name)} ${preview(filename)}${type === null ? '' : ` (${type})`}`,
      }
    })
}

/**
 * An upload's multipart form, driven by its documented form schema: its text fields (valid or
 * junk, sometimes too many), then its file (sometimes none, two, or before the fields), and
 * rarely a body that does not end as multipart must (those cost the server's 2 s wait).
 */
export function formOf(operation: Operation): fc.Arbitrary<{ form: Form; how: string }> {
  const properties = resolve(operation.form ?? {}, operation.root).properties ?? {}
  const fileFields = Object.keys(properties).filter((name) => properties[name]!.format === 'binary')
  const textFields = Object.keys(properties).filter((name) => properties[name]!.format !== 'binary')
  const textPart = fc.oneof(
    ...textFields.map((name) =>
      fc
        .oneof(
          { weight: 3, arbitrary: validValue(properties[name]!, operation.root) },
          { weight: 1, arbitrary: fc.oneof(unicodeJunk, blank) },
        )
        .map((value): FormPart => ({ name, content: String(value) })),
    ),
    fc
      .tuple(fc.oneof(fc.constantFrom('note', 'x', ''), headerSafeJunk), unicodeJunk)
      .map(([name, content]): FormPart => ({ name, content })),
  )
  const filePart = filePartOf(operation, fileFields)
  const fileLists: fc.Arbitrary<FilePart[]> = fc.oneof(
    { weight: 20, arbitrary: filePart.map((file): FilePart[] => [file]) },
    { weight: 1, arbitrary: fc.constant<FilePart[]>([]) },
    { weight: 1, arbitrary: fc.tuple(filePart, filePart).map((pair): FilePart[] => pair) },
    {
      weight: 1,
      arbitrary: fc.constant<FilePart[]>([
        { part: { name: 'file', filename: '', content: '' }, how: 'no file chosen' },
      ]),
    },
  )
  const fieldLists = fc.oneof(
    { weight: 6, arbitrary: fc.array(textPart, { maxLength: 2 }) },
    { weight: 1, arbitrary: fc.array(textPart, { minLength: 11, maxLength: 13 }) },
  )
  const endings = fc.oneof(
    { weight: 400, arbitrary: fc.constant<Form['ending']>('closed') },
    { weight: 1, arbitrary: fc.constant<Form['ending']>('unclosed') },
    { weight: 1, arbitrary: fc.nat().map<Form['ending']>((cut) => cut) },
  )
  return fc
    .record({
      boundary: fc.constantFrom('----fuzz', 'x', 'b'.repeat(70), "a'()+_,-./:=?z"),
      fields: fieldLists,
      files: fileLists,
      order: fc.constantFrom('fields first', 'fields first', 'fields first', 'file first'),
      preamble: fc.constantFrom('', '', '', 'preamble junk\r\n'),
      epilogue: fc.constantFrom('', '', '', 'epilogue junk'),
      ending: endings,
    })
    .map(({ boundary, fields, files, order, preamble, epilogue, ending }) => {
      const fileParts = files.map((file) => file.part)
      const parts = order === 'file first' ? [...fileParts, ...fields] : [...fields, ...fileParts]
      const how = [
        files.length === 1 ? files[0]!.how : `${files.length} files`,
        fields.length ? `${fields.length} text fields` : '',
        order === 'file first' ? 'file first' : '',
        ending === 'closed' ? '' : ending === 'unclosed' ? 'unclosed' : `cut at ${ending}`,
      ]
      return { form: { boundary, parts, preamble, ending, epilogue }, how: how.filter(Boolean).join(', ') }
    })
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A case that prints itself briefly in fast-check's reports (huge payloads cut short). */
function caseOf(fields: Case): Case {
  const describe = () => {
    const body = typeof fields.payload === 'string' ? fields.payload : fields.payload?.toString('latin1')
    const payload = body === undefined ? '' : ` payload=${preview(body, 300)}`
    return `${fields.method} ${preview(fields.url, 300)} headers=${JSON.stringify(fields.headers)}${payload} [${fields.how}]`
  }
  return Object.defineProperty(fields, fc.toStringMethod, { enumerable: false, value: describe })
}

/** A case for `operation` from its parts: an Accept header, and a Content-Type and payload if any. */
function requestOf(
  operation: Operation,
  how: string,
  url: string,
  { accept, wantsHtml }: Accept,
  contentType?: string,
  payload?: string | Buffer,
): Case {
  const headers = {
    ...(accept !== undefined && { accept }),
    ...(contentType !== undefined && { 'content-type': contentType }),
  }
  return caseOf({ how, method: operation.method, url, headers, ...(payload !== undefined && { payload }), wantsHtml })
}

/** Valid inputs (about 2 in 5) and broken ones. */
function inputsOf(operation: Operation): fc.Arbitrary<Input> {
  const valid = objectOf(operation.input, operation.root)
  return fc.oneof(
    { weight: 2, arbitrary: valid.map((value) => ({ value, how: 'valid' })) },
    { weight: 3, arbitrary: brokenOf(operation.input, operation.root, valid) },
  )
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof RawJson)

/** The query string of an input; one that is not an object is written whole, as a key. */
const queryOf = (value: unknown, style: QueryStyle) =>
  isObject(value) ? queryString(value, style) : percentEncode(toJson(value), style.space)

/** The keys of an object, briefly: "id,name", or "3000 keys". */
const keysOf = (object: object) => {
  const keys = Object.keys(object)
  return keys.length === 0 ? 'nothing' : keys.length <= 5 ? keys.join(',') : `${keys.length} keys`
}

const withQuery = (path: string, query: string) => (query === '' ? path : `${path}?${query}`)

/**
 * Requests for a GET or DELETE operation: inputs in the query string (mostly), in a JSON body, split
 * between both (sometimes a name in both), with raw junk in the query, or with odd bodies and types.
 */
function queryCases(operation: Operation): fc.Arbitrary<Case> {
  const { path } = operation
  const names = Object.keys(operation.input.properties ?? {})
  const inputs = inputsOf(operation)
  const inQuery = fc
    .tuple(inputs, queryStyle, acceptHeader)
    .map(([input, style, accept]) =>
      requestOf(operation, `${input.how}; in the query`, withQuery(path, queryOf(input.value, style)), accept),
    )
  const inBody = fc
    .tuple(inputs, jsonType, acceptHeader)
    .map(([input, type, accept]) =>
      requestOf(operation, `${input.how}; as a JSON body`, path, accept, type, toJson(input.value)),
    )
  const split = fc
    .tuple(inputs, fc.nat(), fc.boolean(), queryStyle, acceptHeader)
    .map(([input, at, repeat, style, accept]) => {
      const entries = Object.entries(isObject(input.value) ? input.value : {})
      const cut = entries.length ? at % (entries.length + 1) : 0
      const query = Object.fromEntries(entries.slice(0, cut))
      // `repeat`: the last name in the query is in the body too.
      const body = Object.fromEntries(entries.slice(repeat && cut > 0 ? cut - 1 : cut))
      const how = `${input.how}; split: ${keysOf(query)} in the query, ${keysOf(body)} in the body`
      return requestOf(
        operation,
        how,
        withQuery(path, queryString(query, style)),
        accept,
        'application/json',
        toJson(body),
      )
    })
  const junkQuery = fc
    .tuple(inputs, queryStyle, fc.array(rawQueryJunk(names), { minLength: 1, maxLength: 3 }), acceptHeader)
    .map(([input, style, junk, accept]) => {
      const query = [queryOf(input.value, style), ...junk].filter(Boolean).join('&')
      return requestOf(operation, `${input.how}; raw query junk ${junk.join(' ')}`, withQuery(path, query), accept)
    })
  const junkBody = fc
    .tuple(rawBody, fc.oneof(jsonType, oddContentType), acceptHeader)
    .map(([payload, type, accept]) => requestOf(operation, `raw body as ${type}`, path, accept, type, payload))
  const oddBody = fc
    .tuple(inputs, queryStyle, oddContentType, fc.constantFrom('', '{}', '[]', 'id=1'), acceptHeader)
    .map(([input, style, type, payload, accept]) => {
      const how = `${input.how}; in the query, with a ${JSON.stringify(payload)} body as ${type}`
      return requestOf(operation, how, withQuery(path, queryOf(input.value, style)), accept, type, payload)
    })
  return fc.oneof(
    { weight: 8, arbitrary: inQuery },
    { weight: 2, arbitrary: inBody },
    { weight: 1, arbitrary: split },
    { weight: 1, arbitrary: junkQuery },
    { weight: 1, arbitrary: junkBody },
    { weight: 1, arbitrary: oddBody },
  )
}

/**
 * Requests for a POST operation with a JSON body: the input as JSON (mostly), with query
 * parameters too, as raw junk, with another Content-Type, or with no body.
 */
function jsonCases(operation: Operation): fc.Arbitrary<Case> {
  const { path } = operation
  const inputs = inputsOf(operation)
  const json = fc
    .tuple(inputs, jsonType, acceptHeader)
    .map(([input, type, accept]) => requestOf(operation, input.how, path, accept, type, toJson(input.value)))
  const alsoQuery = fc.tuple(inputs, inputs, queryStyle, acceptHeader).map(([input, query, style, accept]) => {
    const url = withQuery(path, queryOf(query.value, style))
    return requestOf(
      operation,
      `${input.how}; and in the query: ${query.how}`,
      url,
      accept,
      'application/json',
      toJson(input.value),
    )
  })
  const junkBody = fc
    .tuple(rawBody, fc.oneof(jsonType, oddContentType), acceptHeader)
    .map(([payload, type, accept]) => requestOf(operation, `raw body as ${type}`, path, accept, type, payload))
  const oddType = fc
    .tuple(inputs, oddContentType, acceptHeader)
    .map(([input, type, accept]) =>
      requestOf(operation, `${input.how}; as ${type}`, path, accept, type, toJson(input.value)),
    )
  const noBody = fc
    .tuple(fc.option(jsonType), acceptHeader)
    .map(([type, accept]) => requestOf(operation, `no body, Content-Type ${type}`, path, accept, type ?? undefined))
  return fc.oneof(
    { weight: 12, arbitrary: json },
    { weight: 1, arbitrary: alsoQuery },
    { weight: 1, arbitrary: junkBody },
    { weight: 1, arbitrary: oddType },
    { weight: 1, arbitrary: noBody },
  )
}

/** The Content-Type of an upload for its boundary: mostly right, sometimes not multipart or not this boundary. */
const uploadContentType = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.constant((boundary: string): string | undefined => `multipart/form-data; boundary=${boundary}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      (boundary: string): string | undefined => `multipart/form-data; boundary="${boundary}"`,
      (boundary: string): string | undefined => `MULTIPART/FORM-DATA; BOUNDARY=${boundary}`,
      (): string | undefined => 'multipart/form-data',
      (): string | undefined => 'multipart/form-data; boundary=another',
      (boundary: string): string | undefined => `multipart/mixed; boundary=${boundary}`,
      (): string | undefined => 'application/json',
      (): string | undefined => 'text/csv',
      (): string | undefined => undefined,
    ),
  },
)

/**
 * Requests for an upload: a multipart form (formOf), with an optional query (valid, broken or raw
 * junk), an Accept header that may ask for HTML, and sometimes a Content-Type that does not match.
 */
function uploadCases(operation: Operation): fc.Arbitrary<Case> {
  const names = Object.keys(operation.input.properties ?? {})
  const query = fc.oneof(
    { weight: 8, arbitrary: fc.constant({ query: '', how: '' }) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(inputsOf(operation), queryStyle)
        .map(([input, style]) => ({ query: queryOf(input.value, style), how: `query ${input.how}` })),
    },
    { weight: 1, arbitrary: rawQueryJunk(names).map((junk) => ({ query: junk, how: `query junk ${junk}` })) },
  )
  return fc
    .tuple(formOf(operation), query, acceptHeader, uploadContentType)
    .map(([{ form, how }, queryCase, accept, typeFor]) => {
      const type = typeFor(form.boundary)
      const usual = type === `multipart/form-data; boundary=${form.boundary}`
      const notes = [how, queryCase.how, usual ? '' : `Content-Type ${type}`].filter(Boolean).join('; ')
      return requestOf(operation, notes, withQuery(operation.path, queryCase.query), accept, type, encodeForm(form))
    })
}

/** Every request the fuzzer may send to an operation. */
export function casesOf(operation: Operation): fc.Arbitrary<Case> {
  if (operation.kind === 'upload') return uploadCases(operation)
  if (operation.kind === 'json') return jsonCases(operation)
  return queryCases(operation)
}
