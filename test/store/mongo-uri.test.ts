/** The URI rewriting the MongoDB contract run relies on (runs without a server). */
import t from 'tap'
import { databaseOf, withDatabase } from './mongo-uri.js'

t.test('withDatabase swaps the database and keeps everything else', async t => {
  t.equal(withDatabase('mongodb://localhost:27017', 'x_1'), 'mongodb://localhost:27017/x_1')
  t.equal(withDatabase('mongodb://localhost:27017/', 'x_1'), 'mongodb://localhost:27017/x_1')
  t.equal(withDatabase('mongodb://h1:1,h2:2/app?replicaSet=rs0&w=majority', 'x_1'), 'mongodb://h1:1,h2:2/x_1?replicaSet=rs0&w=majority')
  t.equal(withDatabase('mongodb+srv://u:p@c.example.net/app?retryWrites=true', 'x_1'), 'mongodb+srv://u:p@c.example.net/x_1?retryWrites=true', 'srv: authSource left to DNS')
})

t.test('withDatabase pins authSource when credentials would follow the database', async t => {
  t.equal(withDatabase('mongodb://u:p@h/app', 'x_1'), 'mongodb://u:p@h/x_1?authSource=app')
  t.equal(withDatabase('mongodb://u:p@h', 'x_1'), 'mongodb://u:p@h/x_1?authSource=admin')
  t.equal(withDatabase('mongodb://u:p@h/app?replicaSet=rs0', 'x_1'), 'mongodb://u:p@h/x_1?replicaSet=rs0&authSource=app')
  t.equal(withDatabase('mongodb://u:p@h/app?authSource=admin', 'x_1'), 'mongodb://u:p@h/x_1?authSource=admin', 'an explicit authSource is kept')
})

t.test('databaseOf and bad URIs', async t => {
  t.equal(databaseOf('mongodb://h/app?x=1'), 'app')
  t.equal(databaseOf('mongodb://h'), 'test', 'the driver default')
  t.equal(databaseOf('mongodb://h/'), 'test')
  t.throws(() => withDatabase('http://h/app', 'x'), /not a mongodb/)
  t.throws(() => databaseOf('localhost:27017'), /not a mongodb/)
})
