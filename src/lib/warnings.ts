/**
 * Holds Node's runtime warnings (MaxListenersExceededWarning, deprecations, ...)
 * while a command redraws the screen (`status --watch`), so none is printed into
 * the display; release() restores Node's own printing and prints what was held,
 * once each, after the display.
 */
export function holdWarnings(write: (text: string) => void = (text) => process.stderr.write(text)): {release(): void} {
  const previous = process.listeners('warning')
  process.removeAllListeners('warning')
  const held = new Map<string, number>()
  const onWarning = (warning: Error) => {
    const key = `${warning.name}: ${warning.message}`
    held.set(key, (held.get(key) ?? 0) + 1)
  }

  process.on('warning', onWarning)
  let released = false
  return {
    release() {
      if (released) return
      released = true
      process.off('warning', onWarning)
      for (const listener of previous) process.on('warning', listener as (w: Error) => void)
      for (const [key, count] of held)
        write(`warning during the watch: ${key}${count > 1 ? ` (${count} times)` : ''}\n`)
    },
  }
}
