/**
 * Runner side of one adapter child: forks it on the runner's own Node binary, sends commands,
 * waits for typed replies (an `error` reply or an early exit rejects), and keeps its output for
 * the log and for failure reasons.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import type { ChildMessage, Entry, RunnerMessage } from './protocol.js';

type Reply<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

export class AdapterChild {
  /** Every child not yet exited (a cell that hangs past its deadline kills them all). */
  static readonly live = new Set<AdapterChild>();
  readonly process: ChildProcess;
  readonly pid: number;
  readonly #inbox: ChildMessage[] = [];
  #waiter: (() => void) | undefined;
  #exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #tail: string[] = [];
  onEntry: ((entry: Entry) => void) | undefined;

  constructor(path: string, readonly label: string, logFile: string, env: NodeJS.ProcessEnv = {}) {
    this.process = fork(path, [], {
      execPath: process.execPath,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.pid = this.process.pid!;
    AdapterChild.live.add(this);
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      appendFileSync(logFile, text.replace(/^/gm, `[${label}] `));
      this.#tail.push(...text.split('\n').filter(Boolean));
      this.#tail = this.#tail.slice(-20);
    };
    this.process.stdout!.on('data', keep);
    this.process.stderr!.on('data', keep);
    this.process.on('message', (message: ChildMessage) => {
      if (message.type === 'entry') {
        this.onEntry?.(message.e);
        return;
      }
      this.#inbox.push(message);
      this.#waiter?.();
    });
    this.process.on('exit', (code, signal) => {
      this.#exited = { code, signal };
      AdapterChild.live.delete(this);
      this.#waiter?.();
    });
  }

  get exited(): boolean {
    return this.#exited !== undefined;
  }

  send(message: RunnerMessage): void {
    this.process.send(message);
  }

  /** Waits for the next reply of `type`; rejects on an `error` reply, an exit or the timeout. */
  async wait<T extends ChildMessage['type']>(type: T, timeoutMs: number, what: string = type): Promise<Reply<T>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = this.#inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (index >= 0) {
        const [message] = this.#inbox.splice(index, 1);
        if (message!.type === 'error') throw new Error(`${this.label}: ${firstLine(message!.message)}`);
        return message as Reply<T>;
      }
      if (this.#exited) throw new Error(`${this.label} exited (${this.#exited.signal ?? this.#exited.code}) while waiting for ${what}${this.#reason()}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.label}: timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
  }

  /** Resolves when the process has exited (SIGKILL after `ms`). */
  async exit(ms = 15_000): Promise<void> {
    if (this.#exited) return;
    const gone = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    const timer = setTimeout(() => this.process.kill('SIGKILL'), ms);
    await gone;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.#exited) this.process.kill('SIGKILL');
  }

  #reason(): string {
    const lines = this.#tail.filter((l) => /error|Error|throw|at /.test(l)).slice(0, 3);
    return lines.length ? `: ${lines.join(' | ')}` : '';
  }
}

function firstLine(text: string): string {
  const lines = text.split('\n');
  const where = lines.find((l) => l.includes('/bench/') || l.includes('/src/'));
  return lines[0] + (where ? ` (${where.trim()})` : '');
}
