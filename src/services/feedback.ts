// Feedback queries: brand feedback (`feedback`) and product feedback (`product_feedback`).
import type { Page } from '../../schemas/common.js'
import type { FeedbackRow, ProductFeedbackRow } from '../../schemas/database.js'
import type {
  BrandFeedback,
  CreateBrandFeedback,
  CreateProductFeedback,
  ProductFeedback,
} from '../../schemas/feedback.js'
import type { Db } from '../db/connect.js'
import { change, recordEvents, type Writer } from '../changes.js'
import { assertCustomerExists } from './customers.js'
import { assertProductExists } from './products.js'
import { now, paged } from './values.js'

export const toBrandFeedback = ({ id, customerid, heading, body, nps, created }: FeedbackRow): BrandFeedback => ({
  id,
  customerid,
  heading,
  body,
  nps,
  created,
})

export const toProductFeedback = (row: ProductFeedbackRow): ProductFeedback => ({
  ...toBrandFeedback(row),
  productid: row.productid,
})

/** The event of feedback given, of either kind. */
async function recordCreated(trx: Db, by: Writer, feedback: BrandFeedback | ProductFeedback) {
  await recordEvents(trx, by, feedback.created, [
    { type: 'feedback.created', entity: 'feedback', entityid: feedback.id, data: feedback },
  ])
}

export async function addBrandFeedback(db: Db, input: CreateBrandFeedback, by: Writer): Promise<BrandFeedback> {
  return change(db, by, async (trx) => {
    await assertCustomerExists(trx, input.customerid)
    const row = await trx
      .insertInto('feedback')
      .values({ ...input, nps: input.nps ?? null, created: now() })
      .returningAll()
      .executeTakeFirstOrThrow()
    const feedback = toBrandFeedback(row)
    await recordCreated(trx, by, feedback)
    return feedback
  })
}

export async function addProductFeedback(db: Db, input: CreateProductFeedback, by: Writer): Promise<ProductFeedback> {
  return change(db, by, async (trx) => {
    await assertCustomerExists(trx, input.customerid)
    await assertProductExists(trx, input.productid)
    const row = await trx
      .insertInto('product_feedback')
      .values({ ...input, nps: input.nps ?? null, created: now() })
      .returningAll()
      .executeTakeFirstOrThrow()
    const feedback = toProductFeedback(row)
    await recordCreated(trx, by, feedback)
    return feedback
  })
}

/** A customer's feedback of one kind, oldest first; 404 when there is no such customer. */
async function listFeedback(db: Db, table: 'feedback' | 'product_feedback', customerid: number, page: Page) {
  await assertCustomerExists(db, customerid)
  return db.selectFrom(table).selectAll().where('customerid', '=', customerid).$call(paged(page)).execute()
}

export async function listBrandFeedback(db: Db, customerid: number, page: Page): Promise<BrandFeedback[]> {
  return (await listFeedback(db, 'feedback', customerid, page)).map(toBrandFeedback)
}

export async function listProductFeedback(db: Db, customerid: number, page: Page): Promise<ProductFeedback[]> {
  const rows = (await listFeedback(db, 'product_feedback', customerid, page)) as ProductFeedbackRow[]
  return rows.map(toProductFeedback)
}
