// Product queries. Each takes the database (or a transaction) first; transactions start here.
import type { Deleted, Page } from '../../schemas/common.js'
import type { ProductRow } from '../../schemas/database.js'
import type { CreateProduct, ImportProduct, Product, UpdateProduct } from '../../schemas/product.js'
import type { Db } from '../db/connect.js'
import { change, changesOf, deletedEvent, type NewEvent, recordEvents, type Writer } from '../changes.js'
import { assertIfMatch } from '../conditional.js'
import { HttpProblem, notFound } from '../problems.js'
import { assertCustomerExists } from './customers.js'
import { addYears, amountToCents, centsToAmount, foldCase, now, paged } from './values.js'

export function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    name: row.name,
    price: centsToAmount(row.price_cents),
    purchased: row.purchased,
    warranty: row.warranty,
    // Derived on every read, so it is right whichever of `purchased` and `warranty` changed.
    expires: addYears(row.purchased, row.warranty),
    customerid: row.customerid,
    created: row.created,
    updated: row.updated,
  }
}

/** Throws the 404 for a product id that a request refers to and nobody has. */
export async function assertProductExists(db: Db, id: number): Promise<void> {
  const product = await db.selectFrom('products').select('id').where('id', '=', id).executeTakeFirst()
  if (!product) throw notFound(`Product ${id}`)
}

export async function getProduct(db: Db, id: number): Promise<Product> {
  const row = await db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Product ${id}`)
  return toProduct(row)
}

export async function findProductsByName(db: Db, name: string, page: Page): Promise<Product[]> {
  const rows = await db
    .selectFrom('products')
    .selectAll()
    .where('name_key', '=', foldCase(name))
    .$call(paged(page))
    .execute()
  return rows.map(toProduct)
}

/** The products a customer owns now; 404 when there is no such customer. */
export async function findProductsOfCustomer(db: Db, customerid: number, page: Page): Promise<Product[]> {
  await assertCustomerExists(db, customerid)
  const rows = await db
    .selectFrom('products')
    .selectAll()
    .where('customerid', '=', customerid)
    .$call(paged(page))
    .execute()
  return rows.map(toProduct)
}

/** The row of a new product, created at `time`; the price must have at most two decimals. */
export function newProductRow(input: ImportProduct, time: string): Omit<ProductRow, 'id'> {
  return {
    name: input.name,
    name_key: foldCase(input.name),
    price_cents: amountToCents(input.price, 'price'),
    purchased: input.purchased,
    warranty: input.warranty,
    customerid: input.customerid ?? null,
    created: time,
    updated: time,
  }
}

/** The event of a product created (by the API or an upload). */
export const productCreatedEvent = (product: Product): NewEvent => ({
  type: 'product.created',
  entity: 'product',
  entityid: product.id,
  data: product,
})

export async function createProduct(db: Db, input: CreateProduct, by: Writer): Promise<Product> {
  const row = newProductRow(input, now())
  return change(db, by, async (trx) => {
    await assertCustomerExists(trx, input.customerid)
    const stored = await trx.insertInto('products').values(row).returningAll().executeTakeFirstOrThrow()
    const product = toProduct(stored)
    await recordEvents(trx, by, product.created, [productCreatedEvent(product)])
    return product
  })
}

/**
 * Applies every change given, together: `changeto` moves the product to another customer (or,
 * with null, unassigns it). An unknown product or new owner is a 404 and changes nothing.
 */
export async function updateProduct(
  db: Db,
  { id, name, price, purchased, warranty, changeto }: UpdateProduct,
  by: Writer,
  ifMatch?: string,
): Promise<Product> {
  const priceCents = price === undefined ? undefined : amountToCents(price, 'price')
  return change(db, by, async (trx) => {
    const before = await getProduct(trx, id)
    assertIfMatch(ifMatch, before, `Product ${id}`)
    if (changeto !== undefined && changeto !== null) await assertCustomerExists(trx, changeto)
    const row = await trx
      .updateTable('products')
      .set({
        ...(name !== undefined && { name, name_key: foldCase(name) }),
        ...(priceCents !== undefined && { price_cents: priceCents }),
        ...(purchased !== undefined && { purchased }),
        ...(warranty !== undefined && { warranty }),
        ...(changeto !== undefined && { customerid: changeto }),
        updated: now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
    const after = toProduct(row)
    const type = after.customerid === before.customerid ? 'product.updated' : 'product.transferred'
    await recordEvents(trx, by, after.updated, [
      { type, entity: 'product', entityid: id, data: after, changes: changesOf(before, after) },
    ])
    return after
  })
}

/**
 * Deletes one product by `id` (with `ifMatch`, the request's If-Match, only if it holds for the
 * product as it is: 412 otherwise), or all of a customer's by `customerid`; 404 when nothing matched.
 */
export async function deleteProducts(
  db: Db,
  which: { id: number; ifMatch?: string | undefined } | { customerid: number },
  by: Writer,
): Promise<Deleted> {
  return change(db, by, async (trx) => {
    if ('customerid' in which) {
      await assertCustomerExists(trx, which.customerid)
    } else if (which.ifMatch !== undefined) {
      assertIfMatch(which.ifMatch, await getProduct(trx, which.id), `Product ${which.id}`)
    }
    const matching = trx.deleteFrom('products')
    const deleted = await (
      'id' in which ? matching.where('id', '=', which.id) : matching.where('customerid', '=', which.customerid)
    )
      .returningAll()
      .execute()
    if (deleted.length === 0) {
      throw 'id' in which
        ? notFound(`Product ${which.id}`)
        : new HttpProblem(404, `Customer ${which.customerid} has no products.`)
    }
    const products = deleted.map(toProduct).sort((a, b) => a.id - b.id)
    await recordEvents(
      trx,
      by,
      now(),
      products.map((product) => deletedEvent('product', product)),
    )
    return { deleted: products.map((product) => product.id) }
  })
}
