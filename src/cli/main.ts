// Entry point (bin/tsnet.js imports the compiled form of this file).
import { main } from './program.js';

process.exitCode = await main(process.argv);
// TSNET_REPORT_RSS=1: the peak memory of this process, for the benchmark.
if (process.env.TSNET_REPORT_RSS) process.stderr.write(`tsnet-max-rss-kb ${process.resourceUsage().maxRSS}\n`);
