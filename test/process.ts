// A project script run as its own process from source (through tsx), for the tests of the server and the commands.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import type { Test } from 'tap'

export const root = new URL('..', import.meta.url).pathname

export interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

/**
 * Runs `script` (such as `src/server.ts`) with `args`, and with only PATH and `env` in its
 * environment; the process is killed when `t` ends if it still runs.
 */
export function runScript(t: Test, script: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    // The children run through tsx, whose source maps differ from the test runner's: their
    // coverage would garble the report, so tap's coverage is off in them.
    env: { PATH: process.env.PATH, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const exit = once(child, 'exit').then(([code]) => code as number | null)
  return { child, stdout: () => stdout, stderr: () => stderr, exit }
}
