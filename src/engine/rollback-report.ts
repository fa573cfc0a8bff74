// What a rollback left different from before the apply, said by resource address as plans say
// it (`~ endpoint.s1.eth0: eth0 in big-s1: IPv6 on (addrgenmode eui64), was off`), from the two
// snapshots of the owned state (src/state/fingerprint.ts). Pure. Lines of one resource fold into
// one; the report is capped.

/** One snapshot line, taken apart: which object, of which resource, and its properties. */
interface Item {
  /** The object's identity: the same object before and after. */
  key: string;
  /** The resource address ("endpoint.a.eth0", "sandbox.a"); "?" when unknown. */
  address: string;
  /** How the object is named for people ("eth0 in big-s1", "namespace big-s1"). */
  what: string;
  props: Map<string, string>;
}

const nsText = (ns: string) => (ns === '-' ? "the host's own stack" : ns);

/** "host: link NS IFNAME ADDRESS kind=.. mtu=.. up mac=.. [master=..] [addrgenmode=..] ... addrs=.." and the rest. */
function parse(line: string, nsAddress: ReadonlyMap<string, string>): Item | undefined {
  const colon = line.indexOf(': ');
  const host = line.slice(0, colon);
  const t = line.slice(colon + 2).split(' ');
  const props = (tokens: string[]) => new Map(tokens.map((x) => (x === 'up' || x === 'down' ? ['state', x] : [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)])));
  const mark = (a: string) => (a === '?' ? '?' : a.split('/')[0]!);
  switch (t[0]) {
    case 'link':
      return { key: `${host} link ${t[1]} ${t[2]}`, address: mark(t[3]!), what: t[1] === '-' ? t[2]! : `${t[2]} in ${t[1]}`, props: props(t.slice(4)) };
    case 'ns':
      return { key: `${host} ns ${t[1]}`, address: t[2]!, what: `namespace ${t[1]}`, props: props(t.slice(3)) };
    case 'sysctl': {
      const [k, v] = [t[2]!.slice(0, t[2]!.indexOf('=')), t[2]!.slice(t[2]!.indexOf('=') + 1)];
      return { key: `${host} sysctl ${t[1]} ${k}`, address: nsAddress.get(`${host} ${t[1]}`) ?? '?', what: `sysctl ${k} in ${t[1]}`, props: new Map([['value', v]]) };
    }
    case 'route':
      return { key: `${host} ${t.join(' ')}`, address: nsAddress.get(`${host} ${t[1]}`) ?? '?', what: `route ${t.slice(2).join(' ')} in ${t[1]}`, props: new Map() };
    default:
      return { key: `${host} ${t.join(' ')}`, address: '?', what: t.join(' '), props: new Map() };
  }
}

/** A property's value for people: addrgenmode as IPv6 on or off, addresses listed. */
function valueText(name: string, value: string | undefined): string {
  if (value === undefined) return 'none';
  if (name === 'addrgenmode') return value === 'none' ? 'IPv6 off' : `IPv6 on (addrgenmode ${value})`;
  if (name === 'state') return value;
  if (name === 'addrs') return value ? `addresses ${value}` : 'no addresses';
  return `${name} ${value}`;
}

/** How an object that is in both differs: "mtu 1400, was mtu 1500". */
function changes(before: Item, after: Item): string[] {
  const names = [...new Set([...before.props.keys(), ...after.props.keys()])];
  return names.filter((n) => before.props.get(n) !== after.props.get(n)).map((n) => `${valueText(n, after.props.get(n))}, was ${valueText(n, before.props.get(n))}`.replace(/^IPv6 on \(addrgenmode (\S+)\), was IPv6 off$/, 'IPv6 on (addrgenmode $1), was off'));
}

export interface RollbackReport {
  /** By resource address, folded and capped: empty when the owned state is as before. */
  lines: string[];
  /** The names of the objects that differ (interfaces, namespaces), to tell which undo errors matter. */
  names: Set<string>;
}

/** The difference between the owned state before an apply and after its rollback. */
export function rollbackReport(before: readonly string[], after: readonly string[], opts: { cap?: number } = {}): RollbackReport {
  const cap = opts.cap ?? 20;
  const nsAddress = new Map<string, string>();
  for (const l of [...before, ...after]) {
    const m = /^(.*?): ns (\S+) (\S+)/.exec(l);
    if (m) nsAddress.set(`${m[1]} ${m[2]}`, m[3]!);
  }
  const index = (lines: readonly string[]) => new Map(lines.flatMap((l) => (l.includes(': taken ') ? [] : [parse(l, nsAddress)!])).map((i) => [i.key, i]));
  const was = index(before);
  const now = index(after);
  const byAddress = new Map<string, { sign: Set<string>; parts: string[] }>();
  const names = new Set<string>();
  const add = (item: Item, sign: string, text: string) => {
    const entry = byAddress.get(item.address) ?? { sign: new Set<string>(), parts: [] };
    entry.sign.add(sign);
    entry.parts.push(text);
    byAddress.set(item.address, entry);
    names.add(item.what.split(' ')[item.what.startsWith('namespace ') ? 1 : 0]!);
  };
  for (const [key, b] of was) {
    const a = now.get(key);
    if (!a) add(b, '-', `${b.what} is gone`);
    else {
      const c = changes(b, a);
      if (c.length) add(b, '~', `${b.what}: ${c.join('; ')}`);
    }
  }
  for (const [key, a] of now) if (!was.has(key)) add(a, '+', `${a.what} is left (it was not there before)`);
  const lines = [...byAddress].map(([address, e]) => `${e.sign.size === 1 ? [...e.sign][0] : '~'} ${address === '?' ? '(no resource)' : address}: ${e.parts.join('; ')}`);
  const shown = lines.slice(0, cap);
  if (lines.length > cap) shown.push(`... and ${lines.length - cap} more resource${lines.length - cap === 1 ? '' : 's'}`);
  return { lines: shown, names };
}

/**
 * The undo errors worth reporting: those naming an object that is not as it was. An undo that
 * found its object already gone or already restored (`Cannot find device "tsn-n"` when the
 * kernel is as before) is no problem of the rollback.
 */
export function relevantUndoErrors(errors: readonly string[], report: RollbackReport): string[] {
  if (!report.lines.length) return [];
  return errors.filter((e) => [...report.names].some((n) => e.includes(`"${n}"`) || e.includes(` ${n} `) || e.includes(` ${n}:`)) || !/"[^"]+"/.test(e));
}
