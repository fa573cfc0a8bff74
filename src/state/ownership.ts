// Ownership marks: every link tsnet creates carries the interface alias
// "tsnet:<topology>:<address>"; every namespace it creates carries it on its lo.

export const MARK_PREFIX = 'tsnet:';

export interface Mark {
  topology: string;
  /** Resource address, e.g. "endpoint.web.eth0". */
  address: string;
}

export const markText = (topology: string, address: string): string => `${MARK_PREFIX}${topology}:${address}`;

export function parseMark(alias: string | undefined): Mark | undefined {
  if (!alias?.startsWith(MARK_PREFIX)) return undefined;
  const rest = alias.slice(MARK_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) return undefined;
  return { topology: rest.slice(0, colon), address: rest.slice(colon + 1) };
}

export type Owner = { kind: 'this' } | { kind: 'other'; topology: string } | { kind: 'foreign' };

/** Sorts an object into owned by this topology, owned by another one, or foreign. */
export function classify(alias: string | undefined, topology: string): Owner {
  const mark = parseMark(alias);
  if (!mark) return { kind: 'foreign' };
  return mark.topology === topology ? { kind: 'this' } : { kind: 'other', topology: mark.topology };
}

export function describeOwner(owner: Owner): string {
  return owner.kind === 'this' ? 'this topology' : owner.kind === 'other' ? `topology "${owner.topology}"` : 'nothing of tsnet (a foreign object)';
}
