// Signals a serving process answers. SIGTERM and SIGINT stop it: the first
// starts the drain, a second exits at once. SIGHUP reloads (with workers).

import type { Logger } from './log.js';

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

export type StopSignal = keyof typeof SIGNAL_NUMBERS;

/** The first SIGTERM/SIGINT resolves `first`; a second one exits at once. */
export function installStopHandlers(log: Logger): { first: Promise<StopSignal> } {
  let received: StopSignal | undefined;
  const first = new Promise<StopSignal>((resolve) => {
    const onSignal = (signal: StopSignal) => {
      if (received) {
        log.warn(`Received ${signal} again: exiting now`);
        process.exit(128 + SIGNAL_NUMBERS[signal]);
      }
      received = signal;
      resolve(signal);
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
  return { first };
}
