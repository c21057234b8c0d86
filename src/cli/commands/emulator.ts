import { loadEmulatorConfig, parseEmulatorConfig, startEmulator } from '../../emulator/index.js';
import { GenbatchError } from '../../errors/genbatch-error.js';
import { line, type CliIO } from '../io.js';

/** A port that cannot be listened on is the person's to fix (another server, a privileged port): exit 2. */
function listenError(error: unknown, port: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new GenbatchError(`Cannot start the emulator: port ${port} on 127.0.0.1 is already in use (another emulator or server is listening there).`, {
      code: 'PORT_IN_USE',
      exitCode: 2,
      hint: `Stop what is using it, or pick another port: genbatch emulator --port ${port === 65_535 ? port - 1 : port + 1}.`,
      cause: error,
    });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new GenbatchError(`Cannot start the emulator on port ${port} of 127.0.0.1 (${code}).`, {
      code: 'PORT_UNAVAILABLE',
      exitCode: 2,
      hint: 'Ports below 1024 need privileges: pick a port from 1024 to 65535 with --port.',
      cause: error,
    });
  }
  return error;
}

/** `genbatch emulator [--port N] [--config FILE]`: serves until Ctrl-C. */
export async function emulatorCommand(flags: { port: number; config?: string }, io: CliIO): Promise<number> {
  const config = flags.config ? await loadEmulatorConfig(flags.config) : parseEmulatorConfig({});
  const emulator = await startEmulator(config, { port: flags.port }).catch((error: unknown) => {
    throw listenError(error, flags.port);
  });
  line(io.stderr, `Vertex AI emulator listening on ${emulator.url}`);
  line(io.stderr, `Point a credentials entry at it with  endpoint: ${emulator.url}  and  api_key: any. Stats: ${emulator.url}/_emulator/stats`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await emulator.close();
  line(io.stderr, 'Emulator stopped.');
  return 0;
}
