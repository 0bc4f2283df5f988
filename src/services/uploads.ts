// Upload report queries (the upload itself runs in src/imports/run.ts).
import type { UploadReport } from '../../schemas/upload.js'
import type { Db } from '../db/connect.js'
import { notFound } from '../problems.js'

/** A stored report, as it was answered when the file was uploaded. */
export async function getReport(db: Db, id: number): Promise<UploadReport> {
  const row = await db.selectFrom('upload_reports').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw notFound(`Upload report ${id}`)
  return { ...row, errors: JSON.parse(row.errors) as UploadReport['errors'] }
}
