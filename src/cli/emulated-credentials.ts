// `--emulator` is shared with the library (runJob({ emulator: true })), which may not import the CLI.
export { keepPromptCounts, startEmulatorForCredentials, type EmulatedCredentials } from '../library/emulated-credentials.js';
