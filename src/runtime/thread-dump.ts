import { Session } from 'node:inspector';

/** One thread's stack, as the inspector saw it while paused. */
export interface ThreadStack {
  title: string;
  frames: string[];
}

/**
 * Pauses every worker thread of this process for an instant through the inspector and reads its
 * stack: this works even for a thread stuck in a synchronous loop, which could never answer a
 * message. Threads that do not answer within `timeoutMs` are reported without a stack.
 */
export async function workerThreadStacks(timeoutMs = 5000): Promise<ThreadStack[]> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));
  const workers: { sessionId: string; title: string }[] = [];
  const replies = new Map<string, (message: { id?: number; method?: string; params?: { callFrames?: CallFrame[] } }) => void>();
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
  location: { lineNumber: number; columnNumber: number };
}

async function stackOf(
  worker: { sessionId: string; title: string },
  post: (method: string, params?: object) => Promise<unknown>,
  replies: Map<string, (message: { id?: number; method?: string; params?: { callFrames?: CallFrame[] } }) => void>,
  timeoutMs: number,
): Promise<ThreadStack> {
  let id = 0;
  const send = (method: string) => post('NodeWorker.sendMessageToWorker', { sessionId: worker.sessionId, message: JSON.stringify({ id: ++id, method }) });
  const paused = new Promise<CallFrame[]>((resolve) => {
    replies.set(worker.sessionId, (message) => {
      if (message.method === 'Debugger.paused') resolve(message.params?.callFrames ?? []);
    });
  });
  try {
    await send('Debugger.enable');
    await send('Debugger.pause');
    const frames = await Promise.race([paused, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref())]);
    await send('Debugger.resume');
    await send('Debugger.disable');
    if (!frames) return { title: worker.title, frames: ['(did not answer the inspector in time)'] };
    return {
      title: worker.title,
      frames: frames.map((f) => `at ${f.functionName || '<anonymous>'} (${f.url || 'native'}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`),
    };
  } catch (error) {
    return { title: worker.title, frames: [`(no stack: ${(error as Error).message})`] };
  } finally {
    replies.delete(worker.sessionId);
  }
}
