// No child process can hang tsnet for ever (src/state/timeout.ts). A stand-in for `ip` put first
// on PATH hangs (sleeps for ten minutes) in one namespace when its batch holds a given text;
// with TSNET_COMMAND_TIMEOUT=1.5s the run is over in seconds (runs that must not hang keep the
// default limit, so a slow machine cannot fail them): an apply whose sandbox batch hangs
// (through the xargs fan-out, and started one by one from Node) fails naming the command and the
// limit, rolls back, and leaves the kernel exactly as before; a plan whose read hangs fails
// naming the namespace and the limit. No `sleep` outlives the run.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quietDump, settledDump } from '../support/dump.js';
import { ROOT, describeInLab, labProcesses, must, removeAll, run, type Ran } from '../support/lab.js';

const BIN = join(ROOT, 'bin', 'tsnet.js');
const NS = Array.from({ length: 6 }, (_, i) => `kto-s${i}`);
const BRIDGE = 'tsn-kto';
const TOPOLOGY = `version: 1
name: kto
networks:
  net: {driver: bridge, bridge: ${BRIDGE}, subnet: 198.18.77.0/24}
sandboxes:
${NS.map((_, i) => `  s${i}: {endpoints: [{network: net${i === 3 ? ', ip: 198.18.77.33' : ''}}]}`).join('\n')}
`;

/**
 * The limit of the runs that hang: each waits it out once, so it is most of this file's time;
 * well above what a batch of this tiny topology takes (its rollback runs under it too).
 */
const HUNG_LIMIT = '1.5s';
/** For the runs that must succeed: TSNET_COMMAND_TIMEOUT empty is the default limit. */
const DEFAULT_LIMIT = { TSNET_COMMAND_TIMEOUT: '' };

/** The pids of running `sleep 600` processes (the stand-in's hang). */
const hangingSleeps = (): number[] => labProcesses((c) => c === 'sleep\u0000600\u0000');

describeInLab('a command that hangs is killed after its time limit', () => {
  let dir = '';
  let file = '';
  let env: Record<string, string> = {};

  beforeAll(async () => {
    await removeAll({ netns: NS, links: [BRIDGE] });
    dir = mkdtempSync(join(tmpdir(), 'tsnet-kto-'));
    file = join(dir, 'kto.yaml');
    writeFileSync(file, TOPOLOGY);
    const realIp = (await must(['sh', '-c', 'command -v ip'])).trim();
    mkdirSync(join(dir, 'bin'));
    // Hangs in namespace $HANG_NS ("-": the lab's own stack) when its batch (stdin or file)
    // holds $HANG_TEXT; otherwise it is ip.
    writeFileSync(
      join(dir, 'bin', 'ip'),
      `#!/bin/sh
for last; do :; done
here=$(${realIp} netns identify 2>/dev/null)
if [ -n "\${HANG_NS:-}" ] && [ "\${here:--}" = "$HANG_NS" ]; then
  if [ "$last" = - ]; then
    input=$(cat)
    case "$input" in *"$HANG_TEXT"*) exec sleep 600;; esac
    printf '%s\\n' "$input" | exec ${realIp} "$@"
  fi
  case " $* " in *" -batch "*) grep -qF -- "$HANG_TEXT" "$last" && exec sleep 600;; esac
fi
exec ${realIp} "$@"
`,
      { mode: 0o755 },
    );
    env = { NO_COLOR: '1', TSNET_COMMAND_TIMEOUT: HUNG_LIMIT, TSNET_TMPDIR: dir, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
  });
  afterAll(async () => {
    if (file) await run(['node', BIN, 'destroy', '--auto-approve', '-q', file], { env: { NO_COLOR: '1' } });
    await removeAll({ netns: NS, links: [BRIDGE] });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cli = (extra: Record<string, string>, ...args: string[]): Promise<Ran> => run(['node', BIN, ...args], { env: { ...env, ...extra } });

  const variants: [string, Record<string, string>][] = [
    ['through the xargs fan-out', {}],
    ['started one by one', { TSNET_NO_FANOUT: '1' }],
  ];
  for (const [how, extra] of variants) {
    it(`apply: a sandbox batch that hangs (${how}) fails naming the command and the limit, and is rolled back`, async () => {
      const before = await quietDump();
      const t0 = Date.now();
      const res = await cli({ ...extra, HANG_NS: 'kto-s3', HANG_TEXT: 'addr add 198.18.77.33/24' }, 'apply', '--auto-approve', file);
      expect(res.code, res.all).toBe(1);
      expect(Date.now() - t0, 'the run ended within seconds, not ten minutes').toBeLessThan(45_000);
      expect(res.stderr).toMatch(/did not finish within 1\.[5-9]s and was killed \(TSNET_COMMAND_TIMEOUT sets the limit/);
      expect(res.stderr).toContain(how === 'started one by one' ? 'ip -d -json -batch - in namespace kto-s3 did not finish' : 'started by one xargs, did not finish');
      expect(res.stderr).toContain('the kernel is as it was before');
      expect(res.all).not.toMatch(/internal error|\n\s+at /);
      expect(await settledDump(before)).toEqual(before);
      expect(hangingSleeps(), 'no hanging ip outlives the run').toEqual([]);
    }, 90_000);
  }

  it('plan: a read that hangs fails naming the namespace and the limit', async () => {
    const ok = await cli(DEFAULT_LIMIT, 'apply', '--auto-approve', '-q', file);
    expect(ok.code, ok.all).toBe(0);
    for (const extra of [{}, { TSNET_NO_FANOUT: '1' }] as Record<string, string>[]) {
      const res = await cli({ ...extra, HANG_NS: 'kto-s3', HANG_TEXT: 'route show' }, 'plan', file);
      expect(res.code, res.all).toBe(1);
      expect(res.stderr).toMatch(/tsnet: cannot read namespace "kto-s\d" on host "local": ip -d -json -batch.* did not finish within 1\.[5-9]s and was killed/);
      expect(res.all).not.toMatch(/internal error|\n\s+at /);
    }
    // The host's own stack, read by one ip of its own.
    const host = await cli({ HANG_NS: '-', HANG_TEXT: 'route show' }, 'plan', file);
    expect(host.code, host.all).toBe(1);
    expect(host.stderr).toMatch(/tsnet: cannot read the own stack of host "local" \(this machine\): ip -d -json -batch - did not finish within 1\.[5-9]s/);
    expect(hangingSleeps()).toEqual([]);
    expect((await cli(DEFAULT_LIMIT, 'plan', '--detailed-exitcode', file)).code).toBe(0);
  }, 90_000);
});
