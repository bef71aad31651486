export {KubeConfigError, loadKubeConfig} from './config.js'
export {podState, PodWatcher} from './pods.js'
export {kubeGet, KubeUnreachableError, podProxyPath} from './request.js'
