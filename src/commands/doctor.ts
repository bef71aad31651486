import {AtlasCommand} from '../lib/command.js'
import {ExitCode} from '../lib/errors.js'
import {driverFlag} from '../lib/flags.js'
import {doctor, type DoctorResult, formatDoctorReport} from '../lib/tools/doctor.js'

export default class Doctor extends AtlasCommand<typeof Doctor> {
  static description = `Lists the tools of the local driver (etcd, Patroni, PostgreSQL, moto) and of the k3d driver (Docker engine, k3d, Terraform, Ansible, helm, kubectl), the version found and the minimum.
Exits 3 when the selected driver (--driver, else the config's driver; "auto" needs either) is not usable.`
  static examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --driver local --json']
  static flags = {driver: driverFlag}
  static summary = 'Check every tool each driver needs: found, version, and how to install what is missing.'

  async run(): Promise<DoctorResult> {
    const config = await this.atlasConfig()
    const result = await doctor(this.flags.driver ?? config.driver)
    this.print(formatDoctorReport(result))
    if (!result.selectedUsable) this.setExitCode(ExitCode.Precondition)
    return result
  }
}
