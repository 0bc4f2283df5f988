// The five tables of the CRM: customers, products, brand feedback, product feedback, customer requests.
import { type ColumnDefinitionBuilder, type Kysely, type RawBuilder, sql } from 'kysely'
import { idType, primaryId } from '../src/db/portable.js'

const flag = (name: string) => (col: ColumnDefinitionBuilder) =>
  col.notNull().defaultTo(0).check(sql`${sql.ref(name)} in (0, 1)`)

const check = (condition: RawBuilder<unknown>) => (col: ColumnDefinitionBuilder) => col.notNull().check(condition)

export async function up(db: Kysely<any>): Promise<void> {
  const id = primaryId(db)
  const ID = idType(db)

  await db.schema
    .createTable('customers')
    .addColumn('id', ID, id)
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('name_key', 'text', (col) => col.notNull())
    .addColumn('email', 'text', (col) => col.notNull())
    .addColumn('email_key', 'text', (col) => col.notNull())
    .addColumn('address', 'text', (col) => col.notNull())
    .addColumn('phone', 'text')
    .addColumn('optphone', 'integer', flag('optphone'))
    .addColumn('optemail', 'integer', flag('optemail'))
    .addColumn('optchat', 'integer', flag('optchat'))
    .addColumn('status', 'text', check(sql`status in ('active', 'inactive', 'suspended')`))
    .addColumn('created', 'text', (col) => col.notNull())
    .addColumn('updated', 'text', (col) => col.notNull())
    .execute()
  await db.schema.createIndex('customers_email_key').unique().on('customers').column('email_key').execute()
  await db.schema.createIndex('customers_name_key').on('customers').column('name_key').execute()

  await db.schema
    .createTable('products')
    .addColumn('id', ID, id)
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('name_key', 'text', (col) => col.notNull())
    .addColumn('price_cents', 'integer', check(sql`price_cents >= 0`))
    .addColumn('purchased', 'text', (col) => col.notNull())
    .addColumn('warranty', 'integer', check(sql`warranty between 0 and 50`))
    .addColumn('customerid', ID, (col) => col.references('customers.id').onDelete('restrict'))
    .addColumn('created', 'text', (col) => col.notNull())
    .addColumn('updated', 'text', (col) => col.notNull())
    .execute()
  await db.schema.createIndex('products_customerid').on('products').column('customerid').execute()
  await db.schema.createIndex('products_name_key').on('products').column('name_key').execute()

  for (const table of ['feedback', 'product_feedback'] as const) {
    let builder = db.schema
      .createTable(table)
      .addColumn('id', ID, id)
      .addColumn('customerid', ID, (col) => col.notNull().references('customers.id').onDelete('cascade'))
    if (table === 'product_feedback') {
      // Feedback outlives the product it is about: deleting the product leaves `productid` null.
      builder = builder.addColumn('productid', ID, (col) => col.references('products.id').onDelete('set null'))
    }
    await builder
      .addColumn('heading', 'text', (col) => col.notNull())
      .addColumn('body', 'text', (col) => col.notNull())
      .addColumn('nps', 'integer', (col) => col.check(sql`nps between 0 and 10`))
      .addColumn('created', 'text', (col) => col.notNull())
      .execute()
    await db.schema.createIndex(`${table}_customerid`).on(table).column('customerid').execute()
  }
  await db.schema.createIndex('product_feedback_productid').on('product_feedback').column('productid').execute()

  await db.schema
    .createTable('customer_requests')
    .addColumn('id', ID, id)
    .addColumn('customerid', ID, (col) => col.notNull().references('customers.id').onDelete('cascade'))
    .addColumn('request', 'text', (col) => col.notNull())
    .addColumn('resolved', 'integer', flag('resolved'))
    .addColumn('resolution', 'text')
    .addColumn('opened', 'text', (col) => col.notNull())
    .addColumn('closed', 'text')
    .execute()
  await db.schema.createIndex('customer_requests_customerid').on('customer_requests').column('customerid').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['customer_requests', 'product_feedback', 'feedback', 'products', 'customers']) {
    await db.schema.dropTable(table).execute()
  }
}
