export * from './schema.js'
export {DEFAULT_CONFIG, CONFIG_TEMPLATE} from './defaults.js'
export {loadConfig, parseConfigText, parseConfigObject} from './load.js'
export {findRegion} from './regions.js'
