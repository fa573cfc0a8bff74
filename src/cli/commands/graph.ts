// tsnet graph FILE --format mermaid|dot|svg: a picture of the topology (no kernel access).
import { execa } from 'execa';
import { loadChecked } from '../../engine/index.js';
import { withEngineErrors } from '../engine-errors.js';
import { ExitError, writeOut } from '../errors.js';
import { toDot, toMermaid } from '../graph.js';

export interface GraphOptions {
  format?: string;
  out?: string;
}

export async function graphCommand(file: string, opts: GraphOptions): Promise<void> {
  const format = opts.format ?? 'mermaid';
  if (!['mermaid', 'dot', 'svg'].includes(format)) throw new ExitError(`--format must be mermaid, dot or svg, not "${format}"`);
  const { topology } = await withEngineErrors(false, () => loadChecked(file));
  let text = format === 'mermaid' ? toMermaid(topology) : toDot(topology);
  if (format === 'svg') {
    const res = await execa('dot', ['-Tsvg'], { input: text, reject: false });
    if (res.failed) {
      throw new ExitError(
        res.exitCode === undefined
          ? 'svg output needs Graphviz\'s "dot" (Debian: apt-get install graphviz); "--format dot" prints the graph without it'
          : `dot failed: ${String(res.stderr).trim()}`,
      );
    }
    text = String(res.stdout);
  }
  if (opts.out && opts.out !== '-') writeOut(opts.out, text);
  else process.stdout.write(text);
}
