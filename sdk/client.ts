// The CRM API's typed client: openapi-fetch over the types `npm run sdk` generates from openapi.json.
import createClient, { type Client, type ClientOptions } from 'openapi-fetch'
import type { components, operations, paths } from './openapi.js'

export type { components, operations, paths }

type Schemas = components['schemas']

export type Customer = Schemas['Customer']
export type Product = Schemas['Product']
/** A ticket: the document calls it a customer request. */
export type CustomerRequest = Schemas['CustomerRequest']
export type BrandFeedback = Schemas['BrandFeedback']
export type ProductFeedback = Schemas['ProductFeedback']
export type Deleted = Schemas['Deleted']
export type UploadReport = Schemas['UploadReport']
export type ExportRecord = Schemas['ExportRecord']
/** The RFC 9457 problem details every failure answers with (`application/problem+json`). */
export type Problem = Schemas['Problem']
export type FieldError = Schemas['FieldError']
/** One change to a customer, product, feedback or ticket, as the change feed records it. */
export type Event = Schemas['Event']
/** A page of the change feed: its events in id order, and `next`, the `after` that asks for the page after it. */
export type EventPage = Schemas['EventPage']

export type CrmClient = Client<paths>

/**
 * A client for the CRM API at `baseUrl` (such as `http://127.0.0.1:3000`) that sends `key` as
 * `Authorization: Bearer`; `options` go to openapi-fetch.
 */
export function createCrmClient(baseUrl: string, key: string, options: Omit<ClientOptions, 'baseUrl'> = {}): CrmClient {
  return createClient<paths>({ ...options, baseUrl, headers: { ...options.headers, authorization: `Bearer ${key}` } })
}
