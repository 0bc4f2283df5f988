// One delivery attempt over HTTP: signed as Standard Webhooks says, to an address checked when it
// is connected to, cut off at the timeout, with no redirect followed and little of the answer read.
import { createHmac } from 'node:crypto'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { isIP } from 'node:net'
import { isPrivateAddress } from './address.js'

/** What a receiver may answer that is read (and then the connection is dropped). */
const RESPONSE_BYTES = 64 * 1024

/** The key of a `whsec_` secret: the bytes its base64 part holds. */
const keyOf = (secret: string) => Buffer.from(secret.replace(/^whsec_/, ''), 'base64')

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each secret,
 * space-separated (during a rotation, the new secret's and the old one's).
 */
export const signatureOf = (secrets: string[], id: string, timestamp: number, body: string) =>
  secrets
    .map((secret) => `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
    .join(' ')

export interface Attempted {
  /** The receiver's HTTP status; null when none came. */
  code: number | null
  /** Why it is not a delivery; null for a 2xx. */
  error: string | null
  durationMs: number
}

export interface SendOptions {
  timeoutMs: number
  allowPrivate: boolean
  /** Cuts the attempt off (the server is closing). */
  signal?: AbortSignal
}

/** A DNS lookup that refuses loopback, private and link-local addresses: checked as the connection is made. */
const publicOnly: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 4)
    const refused = addresses.find((entry) => isPrivateAddress(entry.address))
    if (refused) {
      return callback(new Error(`${hostname} resolves to ${refused.address}, a private address`), '', 4)
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
    const [first] = addresses
    return callback(null, first!.address, first!.family)
  })
}

/** POSTs `body` (JSON) to `url` with `headers`: what came of it. */
export function send(url: string, body: string, headers: Record<string, string>, options: SendOptions) {
  const started = performance.now()
  const done = (code: number | null, error: string | null): Attempted => ({
    code,
    error,
    durationMs: Math.round(performance.now() - started),
  })
  return new Promise<Attempted>((resolve) => {
    const target = new URL(url)
    const host = target.hostname.replace(/^\[|\]$/g, '')
    if (!options.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
      resolve(done(null, `${host} is a private address`))
      return
    }
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      ...(options.allowPrivate ? {} : { lookup: publicOnly }),
      agent: false,
    })
    const timer = setTimeout(
      () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    )
    const cutOff = () => request.destroy(new Error('the server closed'))
    options.signal?.addEventListener('abort', cutOff, { once: true })
    const finish = (attempted: Attempted) => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', cutOff)
      resolve(attempted)
    }
    request.once('error', (error) => finish(done(null, error.message)))
    request.once('response', (response) => {
      const code = response.statusCode ?? null
      let read = 0
      response.on('data', (chunk: Buffer) => {
        read += chunk.length
        if (read > RESPONSE_BYTES) response.destroy()
      })
      const settle = () => {
        request.destroy()
        if (code !== null && code >= 200 && code < 300) return finish(done(code, null))
        if (code !== null && code >= 300 && code < 400) {
          return finish(done(code, `redirect to ${String(response.headers.location)} not followed`))
        }
        return finish(done(code, `HTTP ${code}`))
      }
      response.once('end', settle)
      response.once('close', settle)
      response.once('error', settle)
    })
    request.end(body)
  })
}
