// `npm run openapi`: writes the OpenAPI document the app serves to openapi.json at the root.
import { writeFileSync } from 'node:fs'
import { buildApp } from '../src/app.js'

const app = await buildApp({ config: { DATABASE_URL: ':memory:', LOG_LEVEL: 'silent' } })
await app.ready()
const file = new URL('../openapi.json', import.meta.url)
writeFileSync(file, `${JSON.stringify(app.swagger(), null, 2)}\n`)
await app.close()
console.log(`Wrote ${file.pathname}`)
