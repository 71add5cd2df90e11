/**
 * The Store contract against MongoDB, only when MONGODB_URI names a replica
 * set (or Atlas). Each store gets its own database, `<uri database>_<random>`,
 * dropped at teardown, so runs never see each other's data.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { openMongoStore } from '../../src/store/mongodb.js'
import { runStoreContract } from './contract.js'
import { databaseOf, withDatabase } from './mongo-uri.js'

const uri = process.env.MONGODB_URI

if (uri === undefined || uri === '') {
  t.comment('MONGODB_URI is not set: the MongoDB contract run was skipped (set it to a replica set URI to run it)')
  t.pass('MONGODB_URI unset: MongoDB contract run skipped')
} else {
  const admin = new MongoClient(uri)
  const databases: string[] = []
  t.teardown(async () => {
    try {
      for (const name of databases) await admin.db(name).dropDatabase()
    } finally {
      await admin.close()
    }
  })
  await runStoreContract(t, 'mongodb', async () => {
    // Database names are capped at 63 bytes; the suffix keeps runs apart.
    const name = `${databaseOf(uri).slice(0, 40)}_${randomBytes(6).toString('hex')}`
    databases.push(name)
    return await openMongoStore(withDatabase(uri, name))
  })
}
