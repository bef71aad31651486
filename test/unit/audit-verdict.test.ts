// scripts/audit-verdict.mjs: what `npm run scan` makes of `npm audit --omit=dev --json`,
// fed the output shapes npm 11 prints (a version 2 audit report; the error object when
// the registry does not answer the audit endpoint, as npm printed it for a 405).
import {expect} from 'chai'
import {execa} from 'execa'
import path from 'node:path'

// @ts-expect-error -- a build script in plain JavaScript, without type declarations
import {auditVerdict} from '../../scripts/audit-verdict.mjs'
import {PACKAGE_ROOT} from '../../src/lib/paths.js'

const verdict = auditVerdict as (stdout: string, stderr?: string) => string

const report = (counts: Partial<Record<'critical' | 'high' | 'info' | 'low' | 'moderate', number>>) => {
  const all = {info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...counts}
  return JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities: {},
    metadata: {
      vulnerabilities: {...all, total: Object.values(all).reduce((a, b) => a + b, 0)},
      dependencies: {prod: 120, dev: 0, optional: 3, peer: 0, peerOptional: 0, total: 122},
    },
  })
}

const UNANSWERED = JSON.stringify({
  message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  method: 'POST',
  uri: 'https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  statusCode: 405,
  body: '',
  error: {summary: '', detail: ''},
})

describe('npm audit verdict (scripts/audit-verdict.mjs)', () => {
  it('fails on any high or critical advisory in the runtime dependencies', () => {
    expect(verdict(report({high: 1}))).to.equal('fail 1 high, 0 critical')
    expect(verdict(report({critical: 2, moderate: 4}))).to.equal('fail 0 high, 2 critical')
  })

  it('passes a report with no advisory, or only low and moderate ones, saying how many', () => {
    expect(verdict(report({}))).to.equal('ok 0 advisories, none high or critical')
    expect(verdict(report({low: 1, moderate: 2, info: 1}))).to.equal('ok 4 advisories, none high or critical')
  })

  it('says "unchecked", with the reason, when the endpoint gave no report; never "ok"', () => {
    expect(verdict(UNANSWERED)).to.equal(
      'unchecked 405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
    )
    expect(verdict(JSON.stringify({error: {summary: 'audit endpoint returned an error', detail: ''}}))).to.equal(
      'unchecked audit endpoint returned an error',
    )
    expect(verdict('', 'npm warn audit 405\nnpm error audit endpoint returned an error\n')).to.equal(
      'unchecked npm error audit endpoint returned an error',
    )
    expect(verdict('')).to.equal('unchecked npm audit gave no report')
  })

  it('prints the verdict as scripts/scan.sh reads it', async () => {
    const result = await execa('node', [path.join(PACKAGE_ROOT, 'scripts', 'audit-verdict.mjs'), report({high: 3}), ''])
    expect(result.stdout).to.equal('fail 3 high, 0 critical')
  })
})
