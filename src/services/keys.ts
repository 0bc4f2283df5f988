// API keys: made from 32 random bytes, shown once, stored only as their SHA-256, named by a short prefix.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiKey, Role } from '../../schemas/key.js'
import type { Db } from '../db/connect.js'
import { change, SERVER, type Writer } from '../changes.js'
import { conflict, notFound } from '../problems.js'
import type { Page } from '../../schemas/common.js'
import { now, paged } from './values.js'

/** Every key starts so, which lets secret scanners and people recognise one. */
const KEY_START = 'crm_'
/** The characters of a key kept in the clear, to tell keys apart in lists and logs. */
const PREFIX_LENGTH = KEY_START.length + 8

/** The SHA-256 of a key, as stored: keys are random and long, so a fast hash cannot be reversed or guessed. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex')

/** The start of a key that names it. */
export const prefixOf = (key: string) => key.slice(0, PREFIX_LENGTH)

/** A new random key: 256 bits, base64url. */
export const generateKey = () => KEY_START + randomBytes(32).toString('base64url')

const listed = ['id', 'name', 'role', 'prefix', 'created', 'revoked'] as const

/** Creates a key; the returned `key` is the only time it is ever seen. */
export async function createKey(db: Db, name: string, role: Role, by = SERVER): Promise<ApiKey & { key: string }> {
  const key = generateKey()
  return change(db, by, async (trx) => {
    const record = await trx
      .insertInto('api_keys')
      .values({ name, role, prefix: prefixOf(key), hash: hashKey(key), created: now(), revoked: null })
      .returning(listed)
      .executeTakeFirstOrThrow()
    return { ...record, key }
  })
}

/** The keys, oldest first, revoked ones included; all of them unless a page is asked for. */
export function listKeys(db: Db, page?: Page): Promise<ApiKey[]> {
  const query = db.selectFrom('api_keys').select(listed)
  return (page ? paged(page)(query) : query.orderBy('id')).execute()
}

/** Whether any key exists, revoked or not. */
export async function anyKey(db: Db): Promise<boolean> {
  return (await db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst()) !== undefined
}

export interface RevokeOptions {
  /**
   * Refuse (409) to revoke the last active admin key, so that the API always has an admin key to
   * manage keys with. The `API_KEY` of the configuration does not count: it is not in the database,
   * and once no stored admin key is left, the first start makes none (it makes one only when no key
   * was ever stored). The command line, which needs no key, may revoke any key.
   */
  keepAnAdmin?: boolean
}

/**
 * Revokes the key with this id (a number) or prefix; revoking a revoked key keeps its first
 * revocation time. The check and the revocation are one transaction: two admin keys revoked at
 * the same moment cannot both pass the check (`BEGIN IMMEDIATE` takes the write lock at once).
 */
export function revokeKey(
  db: Db,
  which: number | string,
  { keepAnAdmin = false }: RevokeOptions = {},
  by: Writer = SERVER,
): Promise<ApiKey> {
  return change(db, by, async (trx) => {
    const match = trx.selectFrom('api_keys').select(listed)
    const key = await (
      typeof which === 'number' ? match.where('id', '=', which) : match.where('prefix', '=', which)
    ).executeTakeFirst()
    if (!key) throw notFound(`Key ${which}`)
    if (key.revoked) return key
    if (keepAnAdmin && key.role === 'admin' && (await activeAdmins(trx)) <= 1) {
      throw conflict(
        `Key ${key.prefix} is the last active admin key: revoking it would leave no admin key in the database ` +
          `(API_KEY does not count). Make another admin key first, or revoke it with npm run keys -- revoke ${key.prefix}.`,
      )
    }
    return trx
      .updateTable('api_keys')
      .set({ revoked: now() })
      .where('id', '=', key.id)
      .returning(listed)
      .executeTakeFirstOrThrow()
  })
}

/** How many admin keys are not revoked. */
async function activeAdmins(db: Db): Promise<number> {
  const { count } = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('role', '=', 'admin')
    .where('revoked', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(count)
}

/** Who a request was admitted as. */
export interface Caller {
  /** The stored key's id; null for the `API_KEY` of the configuration, which is not stored. */
  id: number | null
  /** The key's prefix, which names it in logs and records; `API_KEY` for the key of the configuration. */
  key: string
  role: Role
}

/** How the `API_KEY` of the configuration is named: no part of a secret that is not a stored key's. */
export const CONFIGURED_KEY = 'API_KEY'

/**
 * Who a presented key belongs to: the `API_KEY` of the configuration (an admin), or a stored key
 * that is not revoked; `undefined` for anything else.
 */
export async function callerOf(db: Db, presented: string, configured?: string): Promise<Caller | undefined> {
  const hash = hashKey(presented)
  if (configured && timingSafeEqual(Buffer.from(hash, 'hex'), Buffer.from(hashKey(configured), 'hex'))) {
    return { id: null, key: CONFIGURED_KEY, role: 'admin' }
  }
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'role', 'prefix'])
    .where('hash', '=', hash)
    .where('revoked', 'is', null)
    .executeTakeFirst()
  return row && { id: row.id, key: row.prefix, role: row.role }
}
