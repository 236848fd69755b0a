import { getRuntime, type Runtime } from '../runtime.js';

const resets = new Set<() => void>();

/**
 * A Lambda handler whose dependencies are built on the first invocation (from the shared
 * Runtime) and reused while the container is warm. A failed build is retried next time.
 */
export function lazyHandler<E, R>(build: (rt: Runtime) => Promise<(event: E) => Promise<R>>): (event: E) => Promise<R> {
  let built: Promise<(event: E) => Promise<R>> | undefined;
  resets.add(() => (built = undefined));
  return async (event) => {
    built ??= getRuntime()
      .then(build)
      .catch((err: unknown) => {
        built = undefined;
        throw err;
      });
    return (await built)(event);
  };
}

/** The local stack rebuilds every handler after it changes the environment. */
export function resetHandlers(): void {
  for (const reset of resets) reset();
}
