// .github/workflows/: the YAML parses, the k3d job runs the whole flow in
// order, and every `atlas …` it calls is a command that exists, with flags
// that command declares (read from src/commands/ at test time).
import {expect} from 'chai'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {parse as parseYaml} from 'yaml'

import {PACKAGE_ROOT} from '../../src/lib/paths.js'

const WORKFLOWS = path.join(PACKAGE_ROOT, '.github', 'workflows')
const COMMANDS = path.join(PACKAGE_ROOT, 'src', 'commands')

interface Step {
  if?: string
  name?: string
  run?: string
  uses?: string
  with?: Record<string, unknown>
  'working-directory'?: string
}
interface Job {
  needs?: string | string[]
  'runs-on': string
  steps: Step[]
}
interface Workflow {
  jobs: Record<string, Job>
  name: string
  on: unknown
}

interface AtlasCall {
  commandId: string
  flags: string[]
  job: string
  line: string
  step: string
}

function loadWorkflows(): Array<{file: string; workflow: Workflow}> {
  return readdirSync(WORKFLOWS)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((file) => ({file, workflow: parseYaml(readFileSync(path.join(WORKFLOWS, file), 'utf8')) as Workflow}))
}

/** The command id of `atlas a b --flag …`: the longest leading word sequence that is a command file. */
function commandIdOf(words: string[]): string | undefined {
  for (let n = words.length; n >= 1; n--) {
    const parts = words.slice(0, n)
    if (parts.some((w) => !/^[a-z][a-z0-9-]*$/.test(w))) continue
    if (existsSync(path.join(COMMANDS, ...parts) + '.ts')) return parts.join(' ')
  }

  return undefined
}

/** Every `atlas …` invocation in the run scripts, line by line. */
function atlasCalls(workflows: Array<{workflow: Workflow}>): AtlasCall[] {
  const calls: AtlasCall[] = []
  for (const {workflow} of workflows) {
    for (const [job, def] of Object.entries(workflow.jobs)) {
      for (const step of def.steps) {
        for (const raw of (step.run ?? '').split('\n')) {
          const line = raw.trim()
          const match = /^atlas\s+(.*)$/.exec(line)
          if (!match) continue
          const tokens = match[1].split(/\s+/).filter((t) => t && !t.startsWith('>') && !t.startsWith('|'))
          const words = tokens.slice(
            0,
            tokens.some((t) => t.startsWith('-')) ? tokens.findIndex((t) => t.startsWith('-')) : tokens.length,
          )
          const commandId = commandIdOf(words) ?? `<no command for "${words.join(' ')}">`
          const flags = tokens.filter((t) => t.startsWith('--')).map((t) => t.slice(2).split('=')[0])
          calls.push({job, step: step.name ?? step.run!.slice(0, 40), commandId, flags, line})
        }
      }
    }
  }

  return calls
}

describe('.github/workflows', () => {
  const workflows = loadWorkflows()
  const k3d = workflows.find((w) => w.file === 'k3d.yml')?.workflow

  it('has a k3d workflow that parses, with a lint job and a k3d job', () => {
    expect(workflows.map((w) => w.file)).to.include('k3d.yml')
    expect(k3d!.name).to.be.a('string')
    expect(k3d!.on).to.be.an('object')
    expect(Object.keys(k3d!.jobs)).to.have.members(['lint', 'k3d'])
    for (const [name, job] of Object.entries(k3d!.jobs)) {
      expect(job['runs-on'], `${name} runs on a Docker-capable GitHub runner`).to.match(/^ubuntu-/)
      expect(job.steps.length, name).to.be.greaterThan(3)
    }
  })

  it('ci workflow: the security scan (checkov, npm audit) runs on every push, after setup installed checkov and built the CLI', () => {
    const ci = workflows.find((w) => w.file === 'ci.yml')?.workflow
    expect(ci, 'ci.yml').to.be.an('object')
    const steps = ci!.jobs.unit.steps.map((s) => s.run ?? '')
    const setup = steps.findIndex((r) => /scripts\/setup\.sh/.test(r))
    const scan = steps.findIndex((r) => /^npm run scan$/m.test(r))
    expect(setup, 'setup step').to.be.greaterThan(-1)
    expect(scan, 'npm run scan step').to.be.greaterThan(setup)
  })

  it('lint job: terraform fmt and validate, ansible-lint, yamllint, helm lint of every chart', () => {
    const script = k3d!.jobs.lint.steps.map((s) => s.run ?? '').join('\n')
    expect(script).to.match(/terraform fmt -check -recursive/)
    expect(script).to.match(/terraform -chdir=terraform validate/)
    expect(script).to.match(/ansible-lint/)
    expect(script).to.match(/ansible-playbook --syntax-check site\.yml/)
    expect(script).to.match(/yamllint/)
    expect(script).to.match(/helm lint .*"\$chart"/)
    expect(script).to.match(/for chart in charts\/\*\//)
    // `terraform output -json` must not go through setup-terraform's stdout wrapper
    for (const job of Object.values(k3d!.jobs)) {
      for (const step of job.steps.filter((s) => s.uses?.startsWith('hashicorp/setup-terraform')))
        expect(step.with?.terraform_wrapper).to.equal(false)
    }
  })

  it('k3d job: up, blast-radius --region us, verify --ledger-balance, down, in that order, down even after a failure', () => {
    const calls = atlasCalls([{workflow: k3d!}]).filter((c) => c.job === 'k3d')
    const order = calls.map((c) => c.commandId)
    const at = (id: string) => order.indexOf(id)
    for (const id of ['up', 'blast-radius', 'verify', 'down']) expect(at(id), `atlas ${id}`).to.be.greaterThan(-1)
    expect(at('up')).to.be.lessThan(at('blast-radius'))
    expect(at('blast-radius')).to.be.lessThan(at('verify'))
    expect(at('verify')).to.be.lessThan(at('down'))
    const up = calls.find((c) => c.commandId === 'up' && !c.flags.includes('dry-run'))!
    expect(up.line).to.match(/--driver k3d/)
    expect(calls.find((c) => c.commandId === 'blast-radius')!.line).to.match(/--region us\b/)
    expect(calls.find((c) => c.commandId === 'verify')!.flags).to.include('ledger-balance')
    const downStep = k3d!.jobs.k3d.steps.find((s) => /^atlas down/m.test(s.run ?? ''))!
    expect(downStep.if).to.equal('always()')
    expect(k3d!.jobs.k3d.needs).to.equal('lint')
    // Argo CD syncs from the world's own git source, never from this repository's committed values
    const env = (k3d!.jobs.k3d as Job & {env?: Record<string, string>}).env ?? {}
    expect(Object.keys(env).filter((k) => k.startsWith('ATLAS_GIT_'))).to.deep.equal([])
    expect(order.indexOf('render')).to.be.within(0, at('up'))
    // before the real up, the job checks that the plan builds and imports the ledger image and serves the rendered tree
    const check = k3d!.jobs.k3d.steps.findIndex((s) =>
      /atlas up --driver k3d --dry-run --json > up-plan\.json/.test(s.run ?? ''),
    )
    const realUp = k3d!.jobs.k3d.steps.findIndex((s) => /^atlas up --driver k3d$/m.test(s.run ?? ''))
    expect(check).to.be.within(0, realUp)
    const script = k3d!.jobs.k3d.steps[check].run!
    for (const id of ['ledger-image', 'git-source', 'cluster-dns']) expect(script).to.include(id)
    expect(script).to.include('k3d image import atlas-ledger:[^ ]+ --cluster dc-us --cluster dc-eu')
  })

  it('calls only atlas commands that exist, with flags they declare', async () => {
    const calls = atlasCalls(workflows)
    expect(calls.length).to.be.greaterThan(5)
    for (const call of calls) {
      expect(call.commandId, `${call.job} / ${call.step}: ${call.line}`).to.not.match(/^<no command/)
      const file = path.join(COMMANDS, ...call.commandId.split(' ')) + '.ts'
      const {default: command} = (await import(pathToFileURL(file).href)) as {
        default: {baseFlags?: Record<string, unknown>; enableJsonFlag?: boolean; flags?: Record<string, unknown>}
      }
      const declared = new Set([
        ...Object.keys(command.flags ?? {}),
        ...Object.keys(command.baseFlags ?? {}),
        ...(command.enableJsonFlag ? ['json'] : []),
      ])
      for (const flag of call.flags)
        expect(declared.has(flag), `atlas ${call.commandId} --${flag} (${call.line})`).to.equal(true)
    }
  })

  it('recognises a command that does not exist (the check itself can fail)', () => {
    expect(commandIdOf(['no-such-command'])).to.equal(undefined)
    expect(commandIdOf(['ledger', 'init'])).to.equal('ledger init')
  })
})
