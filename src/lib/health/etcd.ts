import {type ClientTls, fetchJson} from './http.js'
import {groupHealth, type GroupHealth, type MemberHealth} from './model.js'

/** One etcd member to probe: its region, name and client URL. */
export interface EtcdTarget {
  clientUrl: string
  name: string
  region: string
  /** etcd with client-cert-auth: the CA and the client certificate to present */
  tls?: ClientTls
}

/** What etcd's gRPC gateway returns for POST /v3/maintenance/status (numbers arrive as strings). */
export interface EtcdStatusResponse {
  errors?: string[]
  header?: {member_id?: string; raft_term?: string}
  leader?: string
  raftAppliedIndex?: string
  raftIndex?: string
  raftTerm?: string
  version?: string
}

export interface EtcdMemberListResponse {
  members?: Array<{clientURLs?: string[]; ID?: string; isLearner?: boolean; name?: string}>
}

export interface EtcdMemberSample {
  error?: string
  status?: EtcdStatusResponse
  target: EtcdTarget
}

/** Samples every member in parallel; an unreachable or paused member becomes an error entry, never a throw. */
export async function sampleEtcd(
  targets: EtcdTarget[],
  timeoutMs = 300,
): Promise<{members?: EtcdMemberListResponse; samples: EtcdMemberSample[]}> {
  const samples = await Promise.all(
    targets.map(async (target): Promise<EtcdMemberSample> => {
      try {
        return {
          target,
          status: await fetchJson<EtcdStatusResponse>(`${target.clientUrl}/v3/maintenance/status`, {
            body: {},
            timeoutMs,
            tls: target.tls,
          }),
        }
      } catch (error) {
        return {target, error: (error as Error).message}
      }
    }),
  )
  let members: EtcdMemberListResponse | undefined
  const answering = samples.find((s) => s.status)
  if (answering) {
    try {
      members = await fetchJson<EtcdMemberListResponse>(`${answering.target.clientUrl}/v3/cluster/member/list`, {
        body: {},
        timeoutMs,
        tls: answering.target.tls,
      })
    } catch {
      // membership is a detail; the status samples carry the health
    }
  }

  return {samples, members}
}

/**
 * Maps etcd samples into the health model. A member is the leader when its own
 * status names itself as leader; lag is the Raft index behind the leader. Learners
 * (from the member list) do not vote.
 */
export function etcdGroupHealth(samples: EtcdMemberSample[], members?: EtcdMemberListResponse): GroupHealth {
  const leaderSample = samples.find(
    (s) => s.status && s.status.leader && s.status.leader === s.status.header?.member_id,
  )
  const leaderIndex = leaderSample?.status?.raftIndex === undefined ? null : Number(leaderSample.status.raftIndex)
  const memberHealth = samples.map((s): MemberHealth => {
    const listed = members?.members?.find((m) => m.name === s.target.name)
    if (!s.status) {
      return {
        region: s.target.region,
        name: s.target.name,
        group: 'etcd',
        alive: false,
        reachable: false,
        role: listed?.isLearner ? 'learner' : 'unknown',
        term: null,
        lag: null,
        detail: {error: s.error ?? 'no answer'},
      }
    }

    const st = s.status
    const isLeader = Boolean(st.leader && st.leader === st.header?.member_id)
    const index = st.raftIndex === undefined ? null : Number(st.raftIndex)
    // a member that answers but knows no leader has lost quorum: it is alive, not a working voter
    const hasLeader = Boolean(st.leader && st.leader !== '0')
    return {
      region: s.target.region,
      name: s.target.name,
      group: 'etcd',
      alive: true,
      reachable: true,
      role: listed?.isLearner ? 'learner' : isLeader ? 'leader' : hasLeader ? 'follower' : 'unknown',
      term: st.raftTerm === undefined ? null : Number(st.raftTerm),
      lag: leaderIndex !== null && index !== null ? Math.max(0, leaderIndex - index) : null,
      detail: {
        version: st.version ?? null,
        raftIndex: index,
        hasLeader,
        ...(st.errors?.length ? {errors: st.errors.join('; ')} : {}),
      },
    }
  })
  return groupHealth('etcd', memberHealth)
}
