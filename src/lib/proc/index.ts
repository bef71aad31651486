export {freePort, freePorts, isPortFree, isListening, waitForPort, sleep} from './ports.js'
export {isAlive, isGroupAlive, killProcessGroup, waitForExit, stopProcessGroup, readPidFile, writePidFile, livePidFromFile} from './pids.js'
export {postgresOsUser, mkdirOwned, type OsUser} from './users.js'
