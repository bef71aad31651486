export * from './schema.js'
export {DEFAULT_CONFIG, CONFIG_TEMPLATE} from './defaults.js'
export {loadConfig, parseConfigText, parseConfigObject, DEFAULT_CONFIG_FILE} from './load.js'
export {findRegion, primaryRegion, dataRegions, localityRegion} from './regions.js'
