import { Session } from 'node:inspector';

/** One thread's stack, as the inspector saw it while paused. */
export interface ThreadStack {
  title: string;
  frames: string[];
}

/**
 * Pauses every worker thread of this process for an instant through the inspector and reads its
 * stack: this works even for a thread stuck in a synchronous loop, which could never answer a
 * message. A thread that has not paused within `idleAfterMs` runs no JavaScript (it waits for
 * work, or on I/O) and is reported idle.
 */
export async function workerThreadStacks(idleAfterMs = 500): Promise<ThreadStack[]> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));
  const workers: { sessionId: string; title: string }[] = [];
  const replies = new Map<string, (message: InspectorMessage) => void>();
  session.on('NodeWorker.attachedToWorker', (event: { params: { sessionId: string; workerInfo: { title: string } } }) => {
    workers.push({ sessionId: event.params.sessionId, title: event.params.workerInfo.title });
  });
  session.on('NodeWorker.receivedMessageFromWorker', (event: { params: { sessionId: string; message: string } }) => {
    replies.get(event.params.sessionId)?.(JSON.parse(event.params.message));
  });
  try {
    await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    await new Promise((resolve) => setImmediate(resolve));
    return await Promise.all(workers.map((worker) => stackOf(worker, post, replies, idleAfterMs)));
  } finally {
    await post('NodeWorker.disable').catch(() => {});
    session.disconnect();
  }
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

interface InspectorMessage {
  id?: number;
  method?: string;
  params?: { callFrames?: CallFrame[]; scriptId?: string; url?: string };
}

/**
 * Reads one worker's stack. `Debugger.pause` interrupts a thread that runs JavaScript (even a
 * synchronous loop) at once; an idle thread (waiting in its event loop, or on an awaited I/O)
 * runs none and never pauses, so a thread that has not paused within `idleAfterMs` is reported
 * idle, and the pending pause is dropped with `Debugger.disable`. Frames name their script
 * through the `Debugger.scriptParsed` events (CallFrame.url is empty in current Node, which
 * printed every frame as `native:line:col`).
 */
async function stackOf(
  worker: { sessionId: string; title: string },
  post: (method: string, params?: object) => Promise<unknown>,
  replies: Map<string, (message: InspectorMessage) => void>,
  idleAfterMs: number,
): Promise<ThreadStack> {
  let id = 0;
  const send = (method: string, params?: object) =>
    post('NodeWorker.sendMessageToWorker', { sessionId: worker.sessionId, message: JSON.stringify({ id: ++id, method, ...(params ? { params } : {}) }) });
  const scripts = new Map<string, string>();
  const paused = new Promise<CallFrame[]>((resolve) => {
    replies.set(worker.sessionId, (message) => {
      if (message.method === 'Debugger.scriptParsed' && message.params?.scriptId) scripts.set(message.params.scriptId, message.params.url ?? '');
      if (message.method === 'Debugger.paused') resolve(message.params?.callFrames ?? []);
    });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await send('Debugger.enable');
    await send('Debugger.pause');
    const frames = await Promise.race([paused, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), idleAfterMs)))]);
    if (frames) await send('Debugger.resume');
    await send('Debugger.disable');
    if (!frames) return { title: worker.title, frames: ['(idle: no JavaScript running)'] };
    const urlOf = (f: CallFrame) => f.url || scripts.get(f.location.scriptId) || '';
    return {
      title: worker.title,
      frames: frames.map((f) => `at ${f.functionName || '<anonymous>'} (${urlOf(f) || 'native'}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`),
    };
  } catch (error) {
    return { title: worker.title, frames: [`(no stack: ${(error as Error).message})`] };
  } finally {
    clearTimeout(timer);
    replies.delete(worker.sessionId);
  }
}
