export {CONFIG_TEMPLATE, DEFAULT_CONFIG} from './defaults.js'
export {loadConfig, parseConfigObject, parseConfigText} from './load.js'
export {findRegion} from './regions.js'
export * from './schema.js'
