#!/usr/bin/env node
// The local world's backup scheduler (backup.schedule in atlas.yaml): runs `atlas backup`
// every --every seconds, one at a time, and logs each outcome on one line. `atlas up`
// starts it as a managed process (pid file, own process group); `atlas down` stops it.
// A failed backup (the world down for a moment, a failover under way) is logged and
// tried again at the next tick. Node's standard library only.
//
// usage: backup-schedule.mjs --every SECONDS --type full|diff|incr --base-dir DIR [--config FILE]
import {spawn} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const args = process.argv.slice(2)
const option = (name) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? undefined : args[i + 1]
}

const every = Number(option('every'))
const type = option('type') ?? 'full'
const baseDir = option('base-dir')
const config = option('config')
if (!Number.isFinite(every) || every < 1 || !baseDir) {
  console.error('usage: backup-schedule.mjs --every SECONDS --type full|diff|incr --base-dir DIR [--config FILE]')
  process.exit(2)
}

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js')
const log = (message) => console.log(`${new Date().toISOString()} backup-schedule: ${message}`)

let child
let stopping = false
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    stopping = true
    // a backup under way is interrupted; pgBackRest resumes or discards it next time
    if (child) child.kill('SIGTERM')
    else process.exit(0)
  })
}

function backupOnce() {
  return new Promise((resolve) => {
    const started = Date.now()
    const env = {...process.env, NO_COLOR: '1', ...(config ? {ATLAS_CONFIG: config} : {})}
    child = spawn(process.execPath, [cli, 'backup', '--type', type, '--base-dir', baseDir, '--json', '--quiet'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => {
      child = undefined
      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      if (code === 0) {
        let label = '?'
        try {
          label = JSON.parse(out).backup?.label ?? '?'
        } catch {}

        log(`${type} backup ${label} in ${seconds} s`)
      } else {
        log(`${type} backup failed (exit ${code}) after ${seconds} s: ${err.trim().split('\n').slice(-3).join(' | ')}`)
      }

      if (stopping) process.exit(0)
      resolve()
    })
  })
}

log(`every ${every} s, ${type} backups of the world in ${baseDir}`)
for (;;) {
  await new Promise((r) => setTimeout(r, every * 1000))
  await backupOnce()
}
