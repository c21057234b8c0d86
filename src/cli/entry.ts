import { main } from './main.js';

// Exit explicitly: SDK keep-alive sockets must not hold a finished command open. Pipes and files
// are written synchronously on POSIX, so nothing printed is lost.
const code = await main(process.argv.slice(2));
process.exit(code);
