// Building blocks shared by every endpoint group: ids, paging, timestamps, and the problem+json error.
import {
  Kind,
  Type,
  TypeRegistry,
  type SchemaOptions,
  type Static,
  type TInteger,
  type TNumber,
  type TSchema,
  type TString,
} from '@sinclair/typebox'

TypeRegistry.Set<{ enum: readonly string[] }>(
  'StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
)

/** A string that is one of `values`, described as a plain `enum` (the form OpenAPI tools read best). */
export const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions = {}) =>
  Type.Unsafe<T[number]>({ ...options, [Kind]: 'StringEnum', type: 'string', enum: values })

/** The same schema, allowing `null` too, as a JSON Schema type list (`["string", "null"]`). */
export const Nullable = <T extends TString | TInteger | TNumber>(schema: T) => {
  const { [Kind]: _kind, ...rest } = schema
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [schema.type, 'null'] })
}

// Text fields refuse what no person types: control characters (tab and line breaks only where a
// field may span lines), broken UTF-16 (lone surrogates, which JSON can carry) and the
// non-characters U+FFFE and U+FFFF, which no XML (an export) may hold. They refuse the controls
// that reorder text (embeddings, overrides, isolates and the marks LRM, RLM, ALM), which can make
// a name read as another, and the separators U+2028 and U+2029, which some programs break lines
// at and others do not: a line break is CR or LF. And a value must show something.
//
// The patterns mean the same with and without the regular expression `u` flag: the server's
// validator uses it, Swagger UI's form checks do not (there a surrogate pair is two units, matched
// by the second branch). Without the flag a range cannot name characters beyond U+FFFF, so those
// all count as visible.
const REORDERING = '\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069\\u2028\\u2029'
// Unicode's default-ignorable characters up to U+FFFF (zero-width spaces and joiners, the soft
// hyphen, variation selectors, Hangul fillers, the byte order mark): what a renderer shows nothing for.
const IGNORABLE =
  '\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180F\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u206F' +
  '\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFF8'
// The blocks of combining marks that go on any letter. Script-specific marks (Hebrew points,
// Devanagari signs) are left out: listing every mark would make each pattern kilobytes long.
const COMBINING =
  '\\u0300-\\u036F\\u0483-\\u0489\\u1AB0-\\u1AFF\\u1DC0-\\u1DFF\\u20D0-\\u20FF\\uA670-\\uA672\\uFE20-\\uFE2F'
/** What shows nothing on its own: white space, the ignorable characters, the blank Braille cell, combining marks. */
const INVISIBLE = `[\\s${IGNORABLE}\\u2800${COMBINING}]`
const textPattern = (controls: string) =>
  `^(?!${INVISIBLE}*$)(?:[^${controls}${REORDERING}\\uD800-\\uDFFF\\uFFFE\\uFFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$`
const ONE_LINE = textPattern('\\x00-\\x1F\\x7F-\\x9F')
const LINES = textPattern('\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F')

// Years 1900 to 2999: old enough for any purchase on record, and a warranty of 50 years still ends
// in a four-digit year. The `date` format then checks that the day exists.
const DATE_YEARS = '^(19|2\\d)\\d\\d-\\d\\d-\\d\\d$'

/** What a validation error says when a pattern fails, instead of quoting the pattern. */
export const patternMessages: Record<string, string> = {
  [ONE_LINE]:
    'must be text on one line with a visible character, without control characters or text direction controls',
  [LINES]:
    'must be text with a visible character, without control characters or text direction controls ' +
    '(tabs and line breaks as CR or LF are allowed)',
  [DATE_YEARS]: 'must be a date written YYYY-MM-DD, in the years 1900 to 2999',
}

/** What a validation error says when a format fails. */
export const formatMessages: Record<string, string> = {
  date: 'must be a day that exists in the calendar, written YYYY-MM-DD',
  email: 'must be an e-mail address',
}

/** A calendar date, `YYYY-MM-DD`; the day must exist (29 February only in leap years). */
export const DateOnly = (options: SchemaOptions = {}) =>
  Type.String({ format: 'date', pattern: DATE_YEARS, ...options })

/**
 * A lookup parameter that is an alternative to another (a `name` instead of an `id`): without an
 * example, since tools that fill in every example (Swagger UI's "Try it out", Postman) would otherwise
 * send two lookups that exclude each other.
 */
export const Alternative = <T extends TSchema>({ examples: _examples, ...schema }: T): T => schema as T

/** One line of text: a name, a phone number, a heading. */
export const Text = (options: SchemaOptions & { maxLength: number }) => Type.String({ pattern: ONE_LINE, ...options })

/** Text that may span lines: an address, a message. */
export const MultilineText = (options: SchemaOptions & { maxLength: number }) =>
  Type.String({ pattern: LINES, ...options })

export const Id = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Record id. A string of digits such as `"5"` is accepted too.',
  examples: [1],
})

export const Timestamp = Type.String({
  format: 'date-time',
  description: 'UTC time, ISO 8601, set by the server.',
  examples: ['2026-11-29T15:44:42.123Z'],
})

/**
 * An amount of money: a JSON number with at most two decimals, never negative. It is stored as
 * integer cents, so sums are exact.
 */
export const Money = Type.Number({
  minimum: 0,
  maximum: 10_000_000,
  multipleOf: 0.01,
  description: 'Amount in the shop currency, at most two decimals.',
  examples: [19.99],
})

/** What a list holds when `limit` is not given. */
const DEFAULT_LIMIT = 100

export const Limit = Type.Integer({
  minimum: 1,
  maximum: 1000,
  default: DEFAULT_LIMIT,
  description: 'How many records a list holds at most.',
  examples: [100],
})

export const Offset = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  default: 0,
  description: 'How many records of the list to skip, in id order.',
  examples: [0],
})

/** Paging parameters for every list, in id order. */
export const Paging = {
  limit: Type.Optional(Limit),
  offset: Type.Optional(Offset),
}
export interface Page {
  limit: number
  offset: number
}

/** The page a list request asks for; validation has filled in the defaults already. */
export const pageOf = (query: Partial<Page>): Page => ({
  limit: query.limit ?? DEFAULT_LIMIT,
  offset: query.offset ?? 0,
})

export const FieldErrorSchema = Type.Object(
  {
    field: Type.String({
      description:
        'The request field at fault, as the client named it (`name`, `id`), or `(body)` or `(query)` for the whole.',
      examples: ['email'],
    }),
    message: Type.String({ description: 'What is wrong with it.', examples: ['must be an e-mail address'] }),
  },
  { $id: 'FieldError', description: 'One field that failed validation.' },
)

export const ProblemSchema = Type.Object(
  {
    type: Type.String({
      description: 'A URI reference naming the kind of problem; `about:blank` means the status says it all.',
      examples: ['about:blank'],
    }),
    title: Type.String({ description: 'The HTTP status phrase.', examples: ['Bad Request'] }),
    status: Type.Integer({ description: 'The HTTP status code.', examples: [400] }),
    detail: Type.String({
      description: 'What went wrong, for a person to read.',
      examples: ['The request has 1 invalid field: email must be an e-mail address.'],
    }),
    errors: Type.Optional(
      Type.Array(Type.Ref(FieldErrorSchema), { description: 'Each invalid field (validation failures only).' }),
    ),
    instance: Type.String({
      description: 'This occurrence: `urn:request:` and the request id, as in `X-Request-Id` and the logs.',
      examples: ['urn:request:0b7e3c1e-8d0f-4a3b-9f41-2f6d3c8a9e10'],
    }),
  },
  {
    $id: 'Problem',
    description: 'An RFC 9457 problem details object, sent as `application/problem+json` for every failure.',
  },
)
export type Problem = Static<typeof ProblemSchema>
/** A problem as the application states it; the error handler adds the request's `instance`. */
export type ProblemDetail = Omit<Problem, 'instance'>

export const DeletedSchema = Type.Object(
  { deleted: Type.Array(Id, { description: 'The ids of the deleted records.', examples: [[1]] }) },
  { $id: 'Deleted', description: 'What a delete removed.' },
)
export type Deleted = Static<typeof DeletedSchema>

/** Shared schemas, added once at the root and named by `$id` in the OpenAPI components. */
export const sharedSchemas: TSchema[] = [FieldErrorSchema, ProblemSchema, DeletedSchema]

const problemMeaning = {
  400: 'Invalid input: each bad field is named in `errors`; also malformed JSON or an unknown field.',
  401: 'No API key, or one that is not valid or was revoked. `WWW-Authenticate` says how to send one.',
  403: "The key's role is not enough for this operation.",
  429: 'Too many requests from this key (or address) this minute; `Retry-After` says when to try again.',
  413: 'The request body is larger than the server accepts.',
  415: 'The request body is not JSON.',
  500: 'Something failed on the server; it is logged with the request id.',
  503: 'The server is too busy (its event loop is saturated); `Retry-After` says when to try again.',
} as const
/** An HTML page, for a browser that posted a form. */
export const HtmlPage = Type.String({ description: 'An HTML page.' })

/** A JSON response: its schema, what it means, and the example the document shows for it. */
export const jsonResponse = <T extends TSchema>(schema: T, description: string, example: unknown) => ({
  description,
  content: { 'application/json': { schema, example } },
})

/** The `ETag` header of an answer that holds one customer, product or ticket. */
const EtagHeader = {
  // A plain JSON schema: @fastify/swagger copies a header's schema into the document as it is.
  etag: {
    type: 'string',
    description:
      "The record's strong ETag: it changes whenever any field of the record as shown changes. Send it back in " +
      '`If-None-Match` to get a 304 when nothing changed, or in `If-Match` to change the record only if it is unchanged.',
    examples: ['"3q2-7wH4eXv9mS0tKQ1bZ3fL0aQ"'],
  },
}

/** A JSON response holding one record, with its ETag. */
export const recordResponse = <T extends TSchema>(schema: T, description: string, example: unknown) => ({
  ...jsonResponse(schema, description, example),
  headers: EtagHeader,
})

/** The 304 of a lookup by id whose If-None-Match names the record's current ETag. */
export const notModifiedResponse = {
  type: 'null',
  description: "Not modified: `If-None-Match` names the record's current ETag. No body.",
  headers: EtagHeader,
} as const

/** The `If-None-Match` header of a lookup that may answer 304. */
export const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({
      maxLength: 2000,
      description:
        'With `id`: one or more ETags (or `*`); when one is the current ETag of the record, the answer is 304 with no body.',
    }),
  ),
})

/** The `Idempotency-Key` header every change takes: its retries get the first one's answer. */
const idempotencyKey = {
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: '^[\\x21-\\x7E]{1,255}$',
      description:
        'A key of your choosing (1 to 255 visible ASCII characters, such as a UUID) that names this request: sent ' +
        'again with the same request, it gets the first answer (with `Idempotent-Replayed: true`) and changes ' +
        'nothing. Kept IDEMPOTENCY_TTL_HOURS (24 by default), per API key.',
      examples: ['8e03978e-40d5-43e8-bc93-6894a57f9324'],
    }),
  ),
}

/** The headers of a change: `Idempotency-Key`. */
export const ChangeHeaders = Type.Object(idempotencyKey)

/** The headers of a change that may be refused with 412: `If-Match`, and `Idempotency-Key`. */
export const IfMatchHeaders = Type.Object({
  ...idempotencyKey,
  'if-match': Type.Optional(
    Type.String({
      maxLength: 2000,
      description:
        "One or more ETags, or `*` (any existing record): when none is the record's current ETag, the answer is 412 " +
        'and nothing changes. Without it the change is made, as before.',
    }),
  ),
})

/** What a 412 means, for every change that takes If-Match. */
export const PRECONDITION_FAILED = "`If-Match` does not hold: the record's ETag is another now; nothing changed."

const problemResponse = (meaning: string, html: boolean) => ({
  description: meaning,
  content: {
    'application/problem+json': { schema: Type.Ref(ProblemSchema) },
    ...(html && { 'text/html': { schema: HtmlPage } }),
  },
})

/** The 409 and 422 of every change, for its `Idempotency-Key`. */
const IN_FLIGHT =
  'a request with this `Idempotency-Key` is still being carried out (on this instance or another); retry after ' +
  '`Retry-After` seconds to get its answer.'
const KEY_REUSED = 'This `Idempotency-Key` was sent before with another request (method, path, parameters or file).'

/**
 * The error responses of a route: those every route can give (400, 413, 415, 500) and the `extra`
 * ones it names, each with what it means for that route (overriding the general words). A route
 * posted by browser forms (`html`) answers them as pages too; a change (`change`) adds the 409 and
 * 422 of its `Idempotency-Key`.
 */
export function problemResponses(
  extra: Partial<Record<400 | 403 | 404 | 409 | 412 | 413 | 415, string>> = {},
  { html = false, change = false } = {},
) {
  const responses: Record<number, ReturnType<typeof problemResponse>> = {}
  const meanings: Record<number, string | undefined> = { ...problemMeaning, ...extra }
  if (change) {
    meanings[409] = [extra[409], IN_FLIGHT].filter(Boolean).join(' Or: ')
    meanings[422] = KEY_REUSED
  }
  for (const [status, meaning] of Object.entries(meanings)) {
    if (meaning) responses[Number(status)] = problemResponse(meaning, html)
  }
  return responses
}
