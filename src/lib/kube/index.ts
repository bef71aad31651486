export {loadKubeConfig, kubeClient, KubeConfigError, type KubeTarget} from './config.js'
export {kubeGet, podProxyPath, KubeUnreachableError, type KubeResponse, type KubeGetOptions} from './request.js'
export {PodWatcher, podState, type PodState, type PodWatcherOptions} from './pods.js'
