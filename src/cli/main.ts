// Entry point (bin/tsnet.js imports the compiled form of this file).
import { main } from './program.js';

process.exitCode = await main(process.argv);
