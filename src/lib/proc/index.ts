export {
  isAlive,
  isGroupAlive,
  killProcessGroup,
  readPidFile,
  stopProcessGroup,
  waitForExit,
  writePidFile,
} from './pids.js'
export {freePort, isListening, isPortFree, waitForPort} from './ports.js'
export {mkdirOwned, type OsUser, postgresOsUser} from './users.js'
