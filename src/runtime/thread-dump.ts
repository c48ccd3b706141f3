import { Session } from 'node:inspector';

/** One thread's stack, as the inspector saw it while paused. */
export interface ThreadStack {
  title: string;
  frames: string[];
}

/**
 * Pauses every worker thread of this process for an instant through the inspector and reads its
 * stack: this works even for a thread stuck in a synchronous loop, which could never answer a
 * message. An idle thread is reported as idle at once; one that does not answer within
 * `timeoutMs` (blocked outside JavaScript) is reported without a stack.
 */
export async function workerThreadStacks(timeoutMs = 5000): Promise<ThreadStack[]> {
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
    return await Promise.all(workers.map((worker) => stackOf(worker, post, replies, timeoutMs)));
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

/** Names the probe script, so its frame can be told apart from the thread's own. */
const PROBE_URL = 'ductwork-thread-dump-probe';

/**
 * Reads one worker's stack. `Debugger.pause` stops a thread that runs JavaScript at its next
 * statement, but an idle thread (waiting in its event loop) runs none and would never pause: a
 * probe (`Runtime.evaluate` of a no-op) is sent right after, so an idle thread pauses in the
 * probe, and a stack with nothing but the probe means "idle". Frames name their script through
 * the `Debugger.scriptParsed` events (CallFrame.url is often empty in current Node).
 */
async function stackOf(
  worker: { sessionId: string; title: string },
  post: (method: string, params?: object) => Promise<unknown>,
  replies: Map<string, (message: InspectorMessage) => void>,
  timeoutMs: number,
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
    await send('Runtime.evaluate', { expression: `void 0\n//# sourceURL=${PROBE_URL}` });
    const frames = await Promise.race([paused, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)))]);
    await send('Debugger.resume');
    await send('Debugger.disable');
    if (!frames) return { title: worker.title, frames: ['(did not answer the inspector in time)'] };
    const urlOf = (f: CallFrame) => f.url || scripts.get(f.location.scriptId) || '';
    const own = frames.filter((f) => urlOf(f) !== PROBE_URL);
    if (own.length === 0) return { title: worker.title, frames: ['(idle: waiting for work)'] };
    return {
      title: worker.title,
      frames: own.map((f) => `at ${f.functionName || '<anonymous>'} (${urlOf(f) || 'native'}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`),
    };
  } catch (error) {
    return { title: worker.title, frames: [`(no stack: ${(error as Error).message})`] };
  } finally {
    clearTimeout(timer);
    replies.delete(worker.sessionId);
  }
}
