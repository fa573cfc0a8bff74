// `nft -f -`: a script, which nft runs as one transaction, so on failure nothing of it was done.
// The failed line is named by "/dev/stdin:N:".
import { oneLine } from '../../state/read.js';
import type { Runner } from '../../state/runner.js';
import { isPlainToken, linesOf } from './stdin-batch.js';
import type { Batch, BatchOutcome, ToolModule } from './types.js';

const NFT_SYNTAX = new Set(['{', '}', ';', '!=']);
const NFT_QUOTED = /^"[A-Za-z0-9_.:/@+=,%[\]-]+"$/;
/** An IPv6 address and port as `dnat ip6 to` takes them: [2001:db8::2]:80. */
const NFT_IP6_PORT = /^\[[0-9a-fA-F:.]+\]:\d+$/;

/**
 * One line of an nft script from an argv: plain tokens, the few bits of nft syntax tsnet writes
 * (braces, ';', '!='), and double-quoted plain tokens (interface names, comments). Anything
 * else is a bug, never passed on.
 */
export function nftLine(argv: readonly string[]): string {
  for (const a of argv) {
    if (!isPlainToken(a) && !NFT_SYNTAX.has(a) && !NFT_QUOTED.test(a) && !NFT_IP6_PORT.test(a)) throw new Error(`internal: refusing to pass ${JSON.stringify(a)} to nft: not a plain token`);
  }
  return argv.join(' ');
}

async function run(runner: Runner, batch: Batch): Promise<BatchOutcome> {
  const lines = linesOf(batch, nftLine);
  const res = await runner.run(['nft', '-f', '-'], { input: `${lines.map((l) => l.text).join('\n')}\n` });
  if (res.exitCode === 0) return { done: batch.steps };
  const m = /\/dev\/stdin:(\d+):/.exec(res.stderr);
  const failed = (m ? lines[Number(m[1]) - 1] : undefined) ?? lines[0]!;
  const error = res.stderr.split('\n').find((l) => /Error:/.test(l))?.replace(/^.*?Error:\s*/, '').trim() || oneLine(res.stderr) || `nft exited with ${res.exitCode}`;
  return { done: [], failure: { step: failed.step, error, command: `nft ${failed.text}` } };
}

export const nft: ToolModule = {
  name: 'nft',
  program: 'nft',
  line: nftLine,
  run,
  async undo(runner, host, _ns, argvs) {
    // A script is all or nothing: one line each, so that one error does not stop the rest.
    const errors: string[] = [];
    for (const l of argvs) {
      const res = await runner.run(['nft', '-f', '-'], { input: `${nftLine(l)}\n` });
      if (res.exitCode !== 0) errors.push(`host ${host}: nft ${nftLine(l)}: ${oneLine(res.stderr)}`);
    }
    return errors;
  },
};
