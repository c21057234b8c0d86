import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Credentials } from './credentials.js';
import { loadCredentials, type LoadCredentialsOptions } from './load-credentials.js';

export interface CredentialsWatcherOptions extends LoadCredentialsOptions {
  /** How often the file is checked. Polling works the same whatever editor or mount replaced it. */
  intervalMs?: number;
  /** Applied to every reloaded file (e.g. pointing projects at the in-process emulator). */
  transform?: (credentials: Credentials) => Credentials;
  onReload: (credentials: Credentials) => void;
  onInvalid: (error: unknown) => void;
}

/**
 * Reloads the credentials file when it changes, and on SIGHUP. An invalid file is reported and
 * ignored: the run keeps the projects it had.
 */
export class CredentialsWatcher {
  private reloading = Promise.resolve();
  private readonly onSighup = (): void => void this.reload();
  private readonly onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size || current.ino !== previous.ino) void this.reload();
  };

  constructor(
    private readonly file: string,
    private readonly options: CredentialsWatcherOptions,
  ) {}

  start(): this {
    watchFile(this.file, { interval: this.options.intervalMs ?? 500, persistent: false }, this.onChange);
    process.on('SIGHUP', this.onSighup);
    return this;
  }

  stop(): void {
    unwatchFile(this.file, this.onChange);
    process.off('SIGHUP', this.onSighup);
  }

  /** Reloads now; reloads are serialised so an older file never wins over a newer one. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(async () => {
      try {
        const loaded = await loadCredentials(this.file, this.options);
        this.options.onReload(this.options.transform ? this.options.transform(loaded) : loaded);
      } catch (error) {
        this.options.onInvalid(error);
      }
    });
    return this.reloading;
  }
}
