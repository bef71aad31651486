export {freePort, isPortFree, isListening, waitForPort} from './ports.js'
export {isAlive, isGroupAlive, killProcessGroup, waitForExit, stopProcessGroup, readPidFile, writePidFile} from './pids.js'
export {postgresOsUser, mkdirOwned, type OsUser} from './users.js'
