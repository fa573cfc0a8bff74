// Output of several sandboxes at once, as `docker compose` and `parallel --tag` print it: each
// line of each command on its own line, after its sandbox's name, names aligned:
//   a      | PING 198.18.30.10 ...
//   router | PING 198.18.30.10 ...
import { StringDecoder } from 'node:string_decoder';

const PALETTE = ['36', '33', '32', '35', '34', '96', '93', '92'] as const;

/** The prefix of each sandbox: its name padded to the longest, then " | "; coloured when asked. */
export function linePrefixes(names: readonly string[], color: boolean): Map<string, string> {
  const width = Math.max(0, ...names.map((n) => n.length));
  return new Map(
    names.map((n, i) => {
      const padded = n.padEnd(width);
      return [n, color ? `\u001b[${PALETTE[i % PALETTE.length]}m${padded}\u001b[0m | ` : `${padded} | `];
    }),
  );
}

/** Cuts a stream into lines (UTF-8 kept whole across chunks) and writes each after a prefix. */
export class LinePrefixer {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(
    private readonly prefix: string,
    private readonly write: (text: string) => void,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.pending + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.pending = lines.pop()!;
    if (lines.length) this.write(lines.map((l) => `${this.prefix}${l}\n`).join(''));
  }

  /** The last line, when the stream did not end with a newline. */
  end(): void {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest) this.write(`${this.prefix}${rest}\n`);
  }
}
