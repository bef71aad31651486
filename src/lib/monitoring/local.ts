import {chmod, mkdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {CommandRunner} from '../tools/runner.js'
import type {LocalLayout} from '../world/local/layout.js'
import type {PlanStep} from '../world/types.js'
import type {MonitoringStatus, WorldMonitoring} from './types.js'

import {isAlive, isPortFree, readPidFile, stopProcessGroup, writePidFile} from '../proc/index.js'
import {findExecutable} from '../tools/discovery.js'
import {poll, pollUntil} from '../wait.js'
import {cmdlineOf} from '../world/local/processes.js'
import {alertmanagerConfig, exporterEnv, OPTIONAL_JOBS, prometheusConfig} from './config.js'
import {alertmanagerUrl, monitoringLayout, type MonitoringLayout, prometheusUrl} from './layout.js'
import {activeAlerts, type AlertEvent, alertEvents, queryRange, scrapeTargets} from './prometheus.js'

/** The Debian package names first, then the upstream names. */
const TOOLS = {
  prometheus: ['prometheus'],
  alertmanager: ['prometheus-alertmanager', 'alertmanager'],
  exporter: ['prometheus-postgres-exporter', 'postgres_exporter'],
} as const

export const MONITORING_INSTALL_HINT =
  'apt-get install prometheus prometheus-alertmanager prometheus-postgres-exporter (npm run setup installs them)'

interface MonitoringProcess {
  args: string[]
  env: Record<string, string>
  logFile: string
  /** unique to this world's command line: a reused PID is not ours */
  marker: string
  name: string
  pidFile: string
  /** waited for by `up` (the exporters answer even before their database does) */
  port: number
  tool: keyof typeof TOOLS
}

export interface MonitoringStartResult {
  alertmanagerUrl?: string
  enabled: boolean
  prometheusUrl?: string
  /** resolves once Prometheus and Alertmanager answer (rejects naming what did not) */
  ready: Promise<void>
  /** why monitoring is off */
  reason?: string
  started: string[]
  /** processes left out (a busy port) */
  warnings?: string[]
}

/**
 * Prometheus, Alertmanager and one postgres_exporter per region for the local
 * world: atlas's own processes with atlas's own configuration and data under the
 * world's base dir, on loopback, each in a process group of its own with a pid file
 * (never the Debian package's service).
 */
export class LocalMonitoring implements WorldMonitoring {
  readonly m: MonitoringLayout

  /** find: how executables are looked up (PATH and atlas's tool dirs; a test passes its own) */
  constructor(
    private readonly layout: LocalLayout,
    private readonly find: (name: string) => Promise<string | undefined> = findExecutable,
  ) {
    this.m = monitoringLayout(layout)
  }

  /**
   * The alerts that were pending or firing between from and to, from Prometheus'
   * ALERTS series. With settleMs, first waits (at most that long) until no alert
   * fires any more, so that resolutions after the restore are in the record.
   */
  async alertHistory(
    from: Date,
    faultAt: Date,
    options: {settleMs?: number; signal?: AbortSignal} = {},
  ): Promise<AlertEvent[] | undefined> {
    if (!(await this.live()).has('prometheus')) return undefined
    const url = prometheusUrl(this.m)
    let active: Awaited<ReturnType<typeof activeAlerts>> = []
    // an abort ends the wait, not the history
    await poll(async () => (active = await activeAlerts(url)).length === 0 || options.signal?.aborted === true, {
      timeoutMs: options.settleMs ?? 0,
      intervalMs: 500,
    })
    const step = 1
    const series = await queryRange(url, 'ALERTS', from, new Date(), step)
    return alertEvents(series, faultAt, step, new Set(active.map((a) => a.key)))
  }

  /** name -> pid of the monitoring processes that run and are ours. */
  async live(): Promise<Map<string, number>> {
    const live = new Map<string, number>()
    for (const p of this.processes()) {
      const pid = await readPidFile(p.pidFile)
      if (pid === undefined || !isAlive(pid)) continue
      if ((await cmdlineOf(pid))?.includes(p.marker)) live.set(p.name, pid)
    }

    return live
  }

  /** `up --dry-run`: the monitoring processes up would start (none when not installed: up says so and goes on). */
  async planStep(): Promise<PlanStep> {
    const {CommandRunner} = await import('../tools/runner.js')
    const runner = new CommandRunner({dryRun: true, planRoot: this.layout.baseDir})
    const {found, missing} = await this.tools()
    const title = `monitoring: Prometheus, Alertmanager and a postgres_exporter per region, on loopback, configuration in ${this.m.configDir}`
    if (missing.length > 0)
      return {
        id: 'monitoring',
        title,
        commands: [],
        skip: `${missing.join(', ')} not installed: up goes on without monitoring`,
      }
    const live = await this.live()
    for (const p of this.processes().filter((x) => !live.has(x.name)))
      await runner.start(path.basename(found[p.tool]!), p.args, {
        logFile: p.logFile,
        label: p.name,
        cwd: this.layout.baseDir,
      })
    const running = this.processes()
      .filter((p) => live.has(p.name))
      .map((p) => p.name)
    return {
      id: 'monitoring',
      title,
      commands: runner.plan,
      files: [this.m.prometheusConfigFile, this.m.alertmanagerConfigFile, this.m.exporterPasswordFile],
      ...(running.length === this.processes().length ? {skip: `already running: ${running.join(', ')}`} : {}),
    }
  }

  processes(): MonitoringProcess[] {
    const {m, layout} = this
    const log = (name: string) => path.join(layout.logDir, `${name}.log`)
    const pid = (name: string) => path.join(layout.pidDir, `${name}.pid`)
    return [
      {
        name: 'prometheus',
        tool: 'prometheus',
        args: [
          `--config.file=${m.prometheusConfigFile}`,
          `--storage.tsdb.path=${m.prometheusDataDir}`,
          `--web.listen-address=${m.host}:${m.prometheusPort}`,
          '--storage.tsdb.retention.time=2d',
          `--web.external-url=${prometheusUrl(m)}`,
        ],
        env: {},
        logFile: log('prometheus'),
        pidFile: pid('prometheus'),
        marker: m.prometheusConfigFile,
        port: m.prometheusPort,
      },
      {
        name: 'alertmanager',
        tool: 'alertmanager',
        // no cluster listener: Alertmanager's gossip would bind every interface
        args: [
          `--config.file=${m.alertmanagerConfigFile}`,
          `--storage.path=${m.alertmanagerDataDir}`,
          `--web.listen-address=${m.host}:${m.alertmanagerPort}`,
          '--cluster.listen-address=',
          `--web.external-url=${alertmanagerUrl(m)}`,
        ],
        env: {},
        logFile: log('alertmanager'),
        pidFile: pid('alertmanager'),
        marker: m.alertmanagerConfigFile,
        port: m.alertmanagerPort,
      },
      ...m.exporters.map((e, i): MonitoringProcess => ({
        name: e.name,
        tool: 'exporter',
        args: [
          `--web.listen-address=${m.host}:${e.port}`,
          '--disable-settings-metrics',
          `--constantLabels=node=${e.region.postgresName}`,
        ],
        env: exporterEnv(layout, i),
        logFile: log(e.name),
        pidFile: pid(e.name),
        marker: `--web.listen-address=${m.host}:${e.port}`,
        port: e.port,
      })),
    ]
  }

  /**
   * Writes the configuration and starts what does not run yet; a running Prometheus
   * re-reads its configuration and rules (SIGHUP). Returns at once: `ready` says
   * when Prometheus and Alertmanager answer, so `up` waits for them at its end, not
   * before anything else.
   */
  async start(runner: CommandRunner, monitorPassword: string): Promise<MonitoringStartResult> {
    const {found, missing} = await this.tools()
    const off = (reason: string): MonitoringStartResult => ({
      enabled: false,
      reason,
      started: [],
      ready: Promise.resolve(),
    })
    if (missing.length > 0)
      return off(
        `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed: ${MONITORING_INSTALL_HINT}`,
      )
    const {stringify} = await import('yaml')
    const {m} = this
    for (const dir of [m.configDir, m.prometheusDataDir, m.alertmanagerDataDir]) {
      await mkdir(dir, {recursive: true, mode: 0o700})
      await chmod(dir, 0o700)
    }

    await writeFile(m.prometheusConfigFile, stringify(prometheusConfig(this.layout)), {mode: 0o600})
    await writeFile(m.alertmanagerConfigFile, stringify(alertmanagerConfig()), {mode: 0o600})
    await writeFile(m.exporterPasswordFile, monitorPassword, {mode: 0o600})
    await chmod(m.exporterPasswordFile, 0o600)
    const live = await this.live()
    const toStart: MonitoringProcess[] = []
    const warnings: string[] = []
    // a busy port (another program, or a connection's ephemeral port in this block) leaves that one process out, not the rest
    for (const p of this.processes().filter((x) => !live.has(x.name))) {
      if (await isPortFree(p.port, m.host)) toStart.push(p)
      else
        warnings.push(
          `${p.name} not started: port ${m.host}:${p.port} is in use by another program (\`atlas up\` tries again)`,
        )
    }

    if (!live.has('prometheus') && !toStart.some((p) => p.name === 'prometheus'))
      return off(warnings.find((w) => w.startsWith('prometheus'))!)
    const prometheusPid = live.get('prometheus')
    if (prometheusPid !== undefined) process.kill(prometheusPid, 'SIGHUP')
    const started: string[] = []
    for (const p of toStart) {
      const pid = await runner.start(found[p.tool]!, p.args, {
        logFile: p.logFile,
        label: p.name,
        cwd: this.layout.baseDir,
        env: p.env,
      })
      await writePidFile(p.pidFile, pid)
      started.push(p.name)
    }

    const alertmanager = live.has('alertmanager') || started.includes('alertmanager')
    const ready = Promise.all([
      this.waitReady(`${prometheusUrl(m)}/-/ready`, 'Prometheus'),
      alertmanager ? this.waitReady(`${alertmanagerUrl(m)}/-/ready`, 'Alertmanager') : undefined,
    ]).then(() => {})
    ready.catch(() => {})
    return {
      enabled: true,
      started,
      warnings,
      prometheusUrl: prometheusUrl(m),
      alertmanagerUrl: alertmanagerUrl(m),
      ready,
    }
  }

  async status(): Promise<MonitoringStatus | undefined> {
    const live = await this.live()
    if (live.size === 0) return undefined
    const processes = this.processes().map((p) => ({name: p.name, pid: live.get(p.name) ?? null}))
    const base: MonitoringStatus = {
      running: processes.every((p) => p.pid !== null),
      processes,
      prometheusUrl: prometheusUrl(this.m),
      alertmanagerUrl: alertmanagerUrl(this.m),
      targets: null,
      allTargetsUp: false,
      alerts: [],
    }
    try {
      const [targets, alerts] = await Promise.all([scrapeTargets(base.prometheusUrl), activeAlerts(base.prometheusUrl)])
      const marked = targets.map((t) => ({...t, optional: OPTIONAL_JOBS.has(t.job)}))
      return {
        ...base,
        targets: marked,
        allTargetsUp: marked.length > 0 && marked.every((t) => t.optional || t.health === 'up'),
        alerts,
      }
    } catch (error) {
      return {...base, error: `Prometheus did not answer: ${(error as Error).message}`}
    }
  }

  /** Stops every monitoring process by its pid file; returns the names stopped. */
  async stop(options: {purge?: boolean} = {}): Promise<string[]> {
    const live = await this.live()
    const stopped: string[] = []
    await Promise.all(
      this.processes().map(async (p) => {
        const pid = live.get(p.name)
        if (pid !== undefined) {
          await stopProcessGroup(pid, 5000)
          stopped.push(p.name)
        }

        await rm(p.pidFile, {force: true})
      }),
    )
    if (options.purge) await rm(this.m.configDir, {recursive: true, force: true})
    return stopped.sort()
  }

  /** The executables, or the names of those missing. */
  async tools(): Promise<{found: Record<keyof typeof TOOLS, string | undefined>; missing: string[]}> {
    const find = async (names: readonly string[]) => {
      for (const n of names) {
        const f = await this.find(n)
        if (f) return f
      }
    }

    const found = {
      prometheus: await find(TOOLS.prometheus),
      alertmanager: await find(TOOLS.alertmanager),
      exporter: await find(TOOLS.exporter),
    }
    const missing = (Object.keys(TOOLS) as Array<keyof typeof TOOLS>).filter((k) => !found[k]).map((k) => TOOLS[k][0])
    return {found, missing}
  }

  workloadMetricsAddress(): {host: string; port: number} {
    return {host: this.m.host, port: this.m.workloadMetricsPort}
  }

  private async waitReady(url: string, what: string, timeoutMs = 60_000): Promise<void> {
    const ready = async () => {
      try {
        return (await fetch(url, {signal: AbortSignal.timeout(1000)})).ok
      } catch {
        return false // not listening yet
      }
    }

    await pollUntil(ready, {
      timeoutMs,
      intervalMs: 100,
      timeoutError: () =>
        new Error(`${what} did not become ready within ${timeoutMs / 1000} s (see ${this.layout.logDir})`),
    })
  }
}
