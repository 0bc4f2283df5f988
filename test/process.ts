// Processes for the tests: the project's scripts from source (through tsx), and the tools the tests drive.
import { type ChildProcess, spawn } from 'node:child_process'
import type { Test } from 'tap'

export const root = new URL('..', import.meta.url).pathname

/** How a process ended: its exit code, or the signal that ended it; or why it could not start. */
export interface Ending {
  code: number | null
  signal: NodeJS.Signals | null
  error?: Error
}

export interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** The exit code (null when a signal ended the process), once its outputs are read to their end. */
  exit: Promise<number | null>
  /** How the process ended, once its outputs are read to their end. */
  ended: Promise<Ending>
  /** The whole lines of standard output that are JSON (a server's log lines), parsed, as printed so far. */
  logs: () => Record<string, any>[]
  /**
   * The first match of `pattern` in standard output, as soon as it is printed; rejects, with
   * both outputs, when the process ends without printing it or `ms` pass.
   */
  waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpExecArray>
}

/**
 * Runs `script` (such as `src/server.ts`) from source with `args`, and with only PATH and `env` in
 * its environment; when `t` ends, the process is killed if it still runs, and waited for.
 */
export function runScript(t: Test, script: string, args: string[], env: Record<string, string>): Run {
  return runProcess(t, process.execPath, ['--import', 'tsx', script, ...args], env)
}

/**
 * Runs `command` with `args` in the project folder, and with only PATH and `env` in its
 * environment; when `t` ends, the process is killed if it still runs, and waited for.
 */
export function runProcess(t: Test, command: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(command, args, {
    cwd: root,
    // Children run from source through tsx (or are tools), whose source maps differ from the test
    // runner's: their coverage would garble the report, so tap's coverage is off in them.
    env: { PATH: process.env.PATH, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // 'close' comes after 'exit', once both outputs are read to their end: what the process printed
  // last (a server's last log line) is in them when its ending is known. A command that cannot
  // start ends with its error, so that nothing waiting on the ending is left with a rejection.
  const ended = new Promise<Ending>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
    child.once('error', (error) => resolve({ code: null, signal: null, error }))
  })
  // Teardowns run last first: a folder made before the process is removed after it is gone.
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await ended
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const waitFor = (pattern: RegExp, ms = 30_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout)
        if (match) finish(() => resolve(match))
      }
      const fail = (why: string) => () =>
        finish(() =>
          reject(new Error(`${[command, ...args].join(' ')} ${why} ${String(pattern)}:\n${stdout}\n${stderr}`)),
        )
      const timer = setTimeout(fail(`printed in ${ms} ms no match of`), ms)
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        child.stdout.off('data', check)
        settle()
      }
      child.stdout.on('data', check)
      void ended.then(check).then(fail('ended without printing a match of'))
      check()
    })

  // Only whole lines: the last one may still be on its way.
  const logs = () =>
    stdout
      .split('\n')
      .slice(0, -1)
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>)

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit: ended.then(({ code }) => code),
    ended,
    logs,
    waitFor,
  }
}

/** The log lines of `run` with the message `msg`, without what differs from run to run (time, pid, host). */
export const logged = (run: Run, msg: string) =>
  run
    .logs()
    .filter((line) => line.msg === msg)
    .map(({ time: _time, pid: _pid, hostname: _hostname, ...line }) => line)

/**
 * Starts `src/server.ts` on a free port with `env` and waits until it listens: the run and its port.
 * The process is killed, if still running, when `t` ends.
 */
export async function startServer(t: Test, env: Record<string, string>): Promise<Run & { port: number }> {
  const server = runScript(t, 'src/server.ts', [], { PORT: '0', ...env })
  // Up to the quote that ends the log message: the port is whole.
  const [, port] = await server.waitFor(/Server listening at http:\/\/127\.0\.0\.1:(\d+)"/)
  return { ...server, port: Number(port) }
}
