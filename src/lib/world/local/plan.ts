import path from 'node:path'

import type {DownResult, PlanStep, UpResult} from '../types.js'

import {cloudResourceNames} from '../../cloud/names.js'
import {CommandRunner} from '../../tools/runner.js'
import {formatConfigChanges} from '../plan-format.js'
import {type LocalContext, readState} from './context.js'
import {reconcileDynamicConfig} from './dynamic-config.js'
import {pkiPaths} from './pki.js'
import {startProcess} from './process-start.js'
import {liveProcesses, type ManagedProcess} from './processes.js'
import {runTerraform} from './provision.js'
import {endpoints} from './status.js'

/**
 * `up --dry-run`: every step a real `up` would take, in order, with the exact
 * commands, and what it would skip because it is already running or done. Reads
 * the world's pid and state files; writes nothing.
 */
export async function upPlan(ctx: LocalContext, withMonitoring = true): Promise<UpResult> {
  const live = await liveProcesses(ctx.processes, {clean: false})
  const complete = (await readState(ctx))?.complete === true
  const steps: PlanStep[] = []
  const missingTools = new Set<string>()
  const processStep = async (id: string, title: string, procs: ManagedProcess[], files?: string[]) => {
    const runner = new CommandRunner({dryRun: true, planRoot: ctx.layout.baseDir})
    for (const proc of procs.filter((p) => !live.has(p.name))) await startProcess(ctx, runner, proc, undefined)
    for (const tool of runner.missingTools) missingTools.add(tool)
    const running = procs.filter((p) => live.has(p.name)).map((p) => `${p.name} (pid ${live.get(p.name)})`)
    const skip = running.length === procs.length ? `already running: ${running.join(', ')}` : undefined
    steps.push({
      id,
      title: running.length > 0 && !skip ? `${title}; already running: ${running.join(', ')}` : title,
      commands: runner.plan,
      ...(files && !skip ? {files} : {}),
      ...(skip ? {skip} : {}),
    })
  }

  const pki = pkiPaths(ctx.layout)
  const {access} = await import('node:fs/promises')
  const haveCa = await access(pki.caKey).then(
    () => true,
    () => false,
  )
  steps.push({
    id: 'pki',
    title: `create the world's CA and issue the TLS certificates of etcd (peers and clients), PostgreSQL (servers) and their clients with openssl, 0600 in ${pki.dir} and ${pki.postgresDir}`,
    commands: [],
    files: [pki.dir, pki.postgresDir],
    ...(haveCa ? {skip: `the CA exists already (${pki.caCert}); missing certificates are issued by it`} : {}),
  })
  await processStep(
    'etcd-moto',
    'start etcd (one member per region) and moto',
    ctx.processes.filter((p) => p.kind !== 'patroni'),
  )
  await processStep(
    'patroni',
    'start PostgreSQL under Patroni (synchronous replication), each Patroni under its software watchdog',
    ctx.processes.filter((p) => p.kind === 'patroni'),
    ctx.layout.regions.map((r) => r.patroniConfigFile),
  )
  const done = complete ? 'done by an earlier `up` (world.json says so)' : undefined
  const names = ctx.config.regions
    .filter((r) => r.role !== 'witness')
    .map((r) => cloudResourceNames(ctx.config.namePrefix, r.name))
  if (ctx.provisioner === 'terraform') {
    const runner = new CommandRunner({dryRun: true, planRoot: ctx.layout.baseDir})
    await runTerraform(runner, path.join(ctx.layout.baseDir, 'terraform'))
    for (const tool of runner.missingTools) missingTools.add(tool)
    steps.push({
      id: 'cloud',
      title: 'provision S3 audit buckets and SQS queues (terraform/ against moto)',
      commands: runner.plan,
      ...(done ? {skip: done} : {}),
    })
  } else {
    const resources = names.flatMap((n) => [n.auditBucket, n.queue, n.deadLetterQueue])
    steps.push({
      id: 'cloud',
      title: `provision S3 audit buckets and SQS queues through the AWS SDK, as terraform/modules/region declares: ${resources.join(', ')}`,
      commands: [],
      ...(done ? {skip: done} : {}),
    })
  }

  const {accounts, openingBalance} = ctx.config.ledger
  if (withMonitoring) steps.push(await ctx.monitoring.planStep())
  steps.push({
    id: 'schema',
    title: `create the ledger schema and mint ${openingBalance} to each of ${accounts} accounts`,
    commands: [],
    files: [ctx.layout.stateFile],
    ...(done ? {skip: done} : {}),
  })
  const dynamicConfig = await dynamicConfigStep(ctx, live)
  steps.push(dynamicConfig.step)
  return {
    driver: 'local',
    started: false,
    dryRun: true,
    ...(dynamicConfig.reconciled ? {reconciled: dynamicConfig.reconciled} : {}),
    ...(dynamicConfig.notReconciled ? {notReconciled: dynamicConfig.notReconciled} : {}),
    plan: steps.flatMap((st) => st.commands),
    steps,
    missingTools: [...missingTools],
    regions: await endpoints(ctx),
    durationSeconds: 0,
  }
}

/**
 * The last step of `up`: Patroni's dynamic configuration in etcd brought to this version's values. With
 * Patroni running its GET /config says what would change (read only); otherwise it is checked once up has
 * started Patroni.
 */
async function dynamicConfigStep(
  ctx: LocalContext,
  live: Map<string, number>,
): Promise<Pick<UpResult, 'notReconciled' | 'reconciled'> & {step: PlanStep}> {
  const id = 'patroni-config'
  const title = "set this version's values of Patroni's dynamic configuration in etcd where they differ (PATCH /config)"
  if (!ctx.processes.some((p) => p.kind === 'patroni' && live.has(p.name)))
    return {step: {id, title: `${title}, once Patroni runs (GET /config)`, commands: []}}
  try {
    const {reconciled, notReconciled} = await reconcileDynamicConfig(ctx, {
      dryRun: true,
      restApiPassword: () => Promise.reject(new Error('a dry run changes nothing')),
    })
    const left = notReconciled.length > 0 ? `; left as it is: ${formatConfigChanges(notReconciled)}` : ''
    return {
      reconciled,
      notReconciled,
      step:
        reconciled.length > 0
          ? {id, title: `${title}: ${formatConfigChanges(reconciled)}${left}`, commands: []}
          : {id, title: `${title}${left}`, commands: [], skip: "GET /config has this version's values already"},
    }
  } catch (error) {
    return {step: {id, title: `${title} (GET /config did not answer now: ${(error as Error).message})`, commands: []}}
  }
}

/** `down --dry-run`: the process groups a real `down` would stop, in its order (order: the managed processes in stop order). */
export async function downPlan(
  ctx: LocalContext,
  order: ManagedProcess[],
  purge: boolean | undefined,
): Promise<DownResult> {
  const live = await liveProcesses(ctx.processes, {clean: false})
  const monitoringLive = await ctx.monitoring.live()
  const plan = [
    ...[...monitoringLive].map(([name, pid]) => ({
      argv: ['kill', '-TERM', `-${pid}`],
      cwd: '.',
      label: `stop ${name} (process group ${pid})`,
    })),
    ...order
      .filter((p) => live.has(p.name))
      .map((p) => ({
        argv: ['kill', '-TERM', `-${live.get(p.name)}`],
        cwd: '.',
        label: `stop ${p.name} (process group ${live.get(p.name)})`,
      })),
  ]
  const notRunning = order.filter((p) => !live.has(p.name)).map((p) => p.name)
  const steps: PlanStep[] = [
    {
      id: 'stop',
      title:
        plan.length > 0
          ? `stop the local world (SIGTERM, then SIGKILL after a grace period)${notRunning.length > 0 ? `; not running: ${notRunning.join(', ')}` : ''}`
          : 'stop the local world',
      commands: plan,
      ...(plan.length === 0 ? {skip: 'nothing is running'} : {}),
    },
  ]
  if (purge)
    steps.push({
      id: 'purge',
      title: `remove the data, logs, certificates and secrets (runs/ is kept): ${[ctx.layout.dataDir, ctx.layout.postgresHome, ctx.layout.pidDir, ctx.layout.logDir, pkiPaths(ctx.layout).dir, ctx.layout.secretsFile].join(', ')}`,
      commands: [],
    })
  return {driver: 'local', dryRun: true, plan, steps, stopped: [], purged: false}
}
