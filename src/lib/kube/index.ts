export {loadKubeConfig, KubeConfigError} from './config.js'
export {kubeGet, podProxyPath, KubeUnreachableError} from './request.js'
export {PodWatcher, podState} from './pods.js'
