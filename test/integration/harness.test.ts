import {expect} from 'chai'
import {existsSync} from 'node:fs'
import postgres from 'postgres'

import {isGroupAlive} from '../../src/lib/proc/index.js'
import {startMoto} from '../helpers/moto.js'
import {startPostgres} from '../helpers/postgres.js'

describe('test harness', function () {
  this.timeout(120_000)

  it('starts a real PostgreSQL, survives SIGKILL + restart with committed data, and stop() leaves nothing behind', async () => {
    const pg = await startPostgres()
    try {
      const sql = postgres(pg.url, {max: 1, onnotice() {}})
      await sql`CREATE TABLE t (v INT)`
      await sql`INSERT INTO t VALUES (42)`
      expect((await sql`SHOW fsync`)[0].fsync).to.equal('on')
      await sql.end({timeout: 1})
      const firstPid = pg.pid
      await pg.kill('SIGKILL')
      expect(isGroupAlive(firstPid)).to.equal(false)
      await pg.restart()
      const again = postgres(pg.url, {max: 1, onnotice() {}})
      expect((await again`SELECT v FROM t`)[0].v).to.equal(42)
      await again.end({timeout: 1})
    } finally {
      await pg.stop()
    }

    expect(isGroupAlive(pg.pid)).to.equal(false)
    expect(existsSync(pg.dataDir)).to.equal(false)
  })

  it('starts a real moto server that answers S3, and stop() ends it', async () => {
    const moto = await startMoto()
    try {
      const {S3Client, CreateBucketCommand, ListBucketsCommand} = await import('@aws-sdk/client-s3')
      const s3 = new S3Client({
        endpoint: moto.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: {accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey},
      })
      await s3.send(new CreateBucketCommand({Bucket: 'harness-check'}))
      const list = await s3.send(new ListBucketsCommand({}))
      expect(list.Buckets?.map((b) => b.Name)).to.include('harness-check')
      s3.destroy()
    } finally {
      await moto.stop()
    }

    expect(isGroupAlive(moto.pid)).to.equal(false)
  })
})
