// `npm run test:pg`: the whole suite on PostgreSQL (TEST_DATABASE_URL), each test's database a schema
// of its own, all of them dropped before and after the run.
import { spawnSync } from 'node:child_process'
import pg from 'pg'
import { DEFAULT_TEST_DATABASE_URL, TEST_SCHEMA_PREFIX } from '../test/postgres.js'

const url =
  process.env.TEST_DATABASE_URL === undefined || process.env.TEST_DATABASE_URL === ''
    ? DEFAULT_TEST_DATABASE_URL
    : process.env.TEST_DATABASE_URL

/** Drops the schemas the tests made, and says how many. */
async function dropTestSchemas() {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ name: string }>(
      'select nspname as name from pg_namespace where starts_with(nspname, $1)',
      [TEST_SCHEMA_PREFIX],
    )
    for (const { name } of rows) await client.query(`drop schema "${name}" cascade`)
    return rows.length
  } finally {
    await client.end()
  }
}

await dropTestSchemas()
const tap = spawnSync('npx', ['tap', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE_URL: url },
})
console.log(`Dropped the ${await dropTestSchemas()} schemas the tests made.`)
process.exitCode = tap.status ?? 1
