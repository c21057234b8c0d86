import { loadEmulatorConfig, parseEmulatorConfig, startEmulator } from '../../emulator/index.js';
import { line, type CliIO } from '../io.js';

/** `genbatch emulator [--port N] [--config FILE]`: serves until Ctrl-C. */
export async function emulatorCommand(flags: { port: number; config?: string }, io: CliIO): Promise<number> {
  const config = flags.config ? await loadEmulatorConfig(flags.config) : parseEmulatorConfig({});
  const emulator = await startEmulator(config, { port: flags.port });
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
