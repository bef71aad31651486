import {expect} from 'chai'

import {parseRecoveryTime} from '../../../src/lib/backup/command-support.js'
import {
  archiveParameters,
  backupLayout,
  motoTlsArgs,
  pgbackrestConfig,
  pgbackrestConfigFile,
} from '../../../src/lib/backup/layout.js'
import {pgTimestamp, scratchPostgresqlConf} from '../../../src/lib/backup/local.js'
import {backupSchedulerProcesses} from '../../../src/lib/backup/schedule.js'
import {parseConfigText} from '../../../src/lib/config/load.js'
import {AtlasError} from '../../../src/lib/errors.js'
import {backupScheduleStatements, multiRegionSql, scheduleCrontab} from '../../../src/lib/world/k3d/ddl.js'
import {localLayout} from '../../../src/lib/world/local/layout.js'

const YAML = `regions:
  - {name: us, awsRegion: us-east-1, role: primary}
  - {name: eu, awsRegion: eu-central-1, role: secondary}
  - {name: witness, awsRegion: us-west-2, role: witness}
local: {basePort: 30000}
`

describe('backups (pure parts)', () => {
  const config = parseConfigText(YAML, '/w/atlas.yaml')
  const layout = localLayout(config, '/w/.atlas')
  const b = backupLayout(config, layout)

  it("keeps the repository in the primary region's backup bucket, reached over the emulator's TLS port", () => {
    expect(b).to.deep.include({
      stanza: 'atlas',
      bucket: 'atlas-backup-us',
      awsRegion: 'us-east-1',
      tlsPort: layout.motoPort + 1,
    })
    expect(motoTlsArgs(layout)).to.deep.equal([
      '--tls-port',
      String(layout.motoPort + 1),
      '--tls-cert',
      '/w/.atlas/data/moto-tls/cert.pem',
      '--tls-key',
      '/w/.atlas/data/moto-tls/key.pem',
    ])
    const text = pgbackrestConfig(b, '127.0.0.1', {dataDir: '/d', port: 5432, socketDir: '/s'}, {retentionFull: 2})
    for (const line of [
      'repo1-type=s3',
      'repo1-s3-bucket=atlas-backup-us',
      'repo1-s3-uri-style=path',
      `repo1-storage-port=${layout.motoPort + 1}`,
      'repo1-storage-ca-file=/w/.atlas/postgres/s3-emulator.crt',
      'repo1-bundle=y',
      'repo1-retention-full=2',
      '[atlas]',
      'pg1-path=/d',
      'pg1-port=5432',
      'pg1-socket-path=/s',
    ]) {
      expect(text.split('\n')).to.include(line)
    }
  })

  it("archives WAL from every node with archive_mode=on (never always), through that node's config", () => {
    for (const r of layout.regions) {
      const params = archiveParameters(b, pgbackrestConfigFile(layout, r), r)
      expect(params.archive_mode).to.equal('on')
      expect(params.archive_command).to.equal(
        `pgbackrest --config=/w/.atlas/postgres/pgbackrest-${r.region.name}.conf --stanza=atlas archive-push %p`,
      )
    }
  })

  it('gives the scratch copy its own port and socket dir, no archiving, and no connections before the promotion', () => {
    const conf = scratchPostgresqlConf('127.0.0.1', 41_000, '/r')
    expect(conf)
      .to.include('port = 41000')
      .and.include("unix_socket_directories = '/r'")
      .and.include('archive_mode = off')
      .and.include('hot_standby = off')
  })

  it('reads --to-time as ISO 8601 with a zone or epoch seconds, and refuses the rest', () => {
    expect(parseRecoveryTime('2026-11-30T02:30:00Z').toISOString()).to.equal('2026-11-30T02:30:00.000Z')
    expect(parseRecoveryTime('2026-11-30T03:30:00+01:00').toISOString()).to.equal('2026-11-30T02:30:00.000Z')
    expect(parseRecoveryTime('1796000000').toISOString()).to.equal(new Date(1_796_000_000 * 1000).toISOString())
    for (const bad of ['yesterday', '2026-11-30T02:30:00', '2999-01-01T00:00:00Z', '']) {
      expect(() => parseRecoveryTime(bad), bad).to.throw(AtlasError)
    }

    expect(pgTimestamp(new Date('2026-11-30T02:30:00.123Z'))).to.equal('2026-11-30 02:30:00.123+00')
  })

  it('backup.schedule: no scheduler without it; with it, one managed process running atlas backup every interval', () => {
    expect(backupSchedulerProcesses(config, layout)).to.deep.equal([])
    const scheduled = {
      ...parseConfigText(`${YAML}backup: {schedule: 6h, type: incr}\n`, '/w/atlas.yaml'),
      source: '/w/atlas.yaml',
    }
    const [proc] = backupSchedulerProcesses(scheduled, layout)
    expect(proc.kind).to.equal('scheduler')
    expect(proc.args.slice(1)).to.deep.equal([
      '--every',
      '21600',
      '--type',
      'incr',
      '--base-dir',
      '/w/.atlas',
      '--config',
      '/w/atlas.yaml',
    ])
    expect(() => parseConfigText(`${YAML}backup: {schedule: 10s}\n`, '/w/atlas.yaml')).to.throw(/between 1m and 30d/)
    expect(() => parseConfigText(`${YAML}backup: {schedule: often}\n`, '/w/atlas.yaml')).to.throw(/duration/)
  })

  it("k3d world: backup.schedule renders CockroachDB's CREATE SCHEDULE into the multi-region SQL job, against LocalStack", () => {
    expect(backupScheduleStatements(config)).to.deep.equal([])
    expect(multiRegionSql(config)).to.not.include('CREATE SCHEDULE')
    const scheduled = parseConfigText(`${YAML}backup: {schedule: 6h}\n`, '/w/atlas.yaml')
    const [statement] = backupScheduleStatements(scheduled)
    expect(statement).to.equal(
      "CREATE SCHEDULE IF NOT EXISTS 'atlas-ledger-backup' FOR BACKUP DATABASE \"ledger\" INTO 's3://atlas-audit-us/cockroach-backups?AWS_ACCESS_KEY_ID=test&AWS_SECRET_ACCESS_KEY=test&AWS_ENDPOINT=http%3A%2F%2Fatlas-localstack%3A4566&AWS_REGION=us-east-1&AWS_USE_PATH_STYLE=true' RECURRING '0 */6 * * *' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now';",
    )
    expect(multiRegionSql(scheduled).trim().split('\n').at(-1)).to.equal(statement)
    expect([scheduleCrontab('30m'), scheduleCrontab('1h'), scheduleCrontab('1d'), scheduleCrontab('3d')]).to.deep.equal(
      ['*/30 * * * *', '0 */1 * * *', '@daily', '0 0 */3 * *'],
    )
  })

  it('the CockroachDB image reads every parameter of the backup collection (AWS_USE_PATH_STYLE is new in v24.3.3)', async () => {
    const {readFile} = await import('node:fs/promises')
    const values = await readFile(new URL('../../../charts/cockroachdb/values.yaml', import.meta.url), 'utf8')
    const tag = /^\s+tag:\s*v(\d+)\.(\d+)\.(\d+)\s*$/m.exec(values)
    expect(tag, 'image.tag in charts/cockroachdb/values.yaml').to.not.equal(null)
    const [major, minor, patch] = tag!.slice(1).map(Number)
    // older releases refuse the URI ("unknown S3 query parameters: AWS_USE_PATH_STYLE"): no schedule, no restore
    expect(major * 1e6 + minor * 1e3 + patch, `v${major}.${minor}.${patch}`).to.be.at.least(24_003_003)
    const scheduled = parseConfigText(`${YAML}backup: {schedule: 6h}\n`, '/w/atlas.yaml')
    expect(backupScheduleStatements(scheduled)[0]).to.include('AWS_USE_PATH_STYLE=true')
  })
})
