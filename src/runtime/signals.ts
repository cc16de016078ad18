// Cleaning up on the usual termination signals without changing what they do to the application: an
// app with a handler of its own keeps it (we only clean up beside it); an app without one still dies
// of the signal, by its default action, once we have cleaned up.

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Run `cleanup` when one of SIGNALS arrives; returns the function that stops listening. */
export function onTermination(cleanup: () => void): () => void {
  const handlers = SIGNALS.map((sig) => {
    const handler = (): void => {
      cleanup();
      // Ours is the only listener: the app had none, so the signal must do what it would have done.
      // Removing the last listener restores the default action (Node resets every disposition at
      // start-up), and raising the signal again takes it.
      if (process.listenerCount(sig) === 1) {
        off();
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  const off = (): void => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  };
  return off;
}
