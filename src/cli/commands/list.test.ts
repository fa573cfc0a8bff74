// tsnet list's rows and table: counts from marks joined with the records of the last applies.
import { describe, expect, it } from 'vitest';
import type { AppliedRecord } from '../applied.js';
import { listJson, listRows, renderList } from './list.js';

const record = (topology: string, hosts: AppliedRecord['hosts']): AppliedRecord => ({ version: 1, topology, file: `/labs/${topology}.yaml`, applied_at: '2025-03-04T05:06:07.890Z', hosts });
const local = [{ name: 'local', via: { kind: 'local' as const } }];

describe('tsnet list', () => {
  it('rows: topologies with marks here, and recorded ones with ssh hosts (their objects may all be there); not stale local records', () => {
    const rows = listRows(
      [{ name: 'b', namespaces: 2, links: 5, nftTables: 0 }],
      new Map([
        ['b', record('b', local)],
        ['gone', record('gone', local)],
        ['far', record('far', [{ name: 'r', via: { kind: 'ssh', destination: 'root@r' } }])],
      ]),
    );
    expect(rows.map((r) => [r.name, r.namespaces, r.record?.topology])).toEqual([
      ['b', 2, 'b'],
      ['far', 0, 'far'],
    ]);
  });

  it('the table: aligned columns, "unknown" without a record, a line for hosts not counted', () => {
    const rows = listRows(
      [
        { name: 'lab', namespaces: 12, links: 30, nftTables: 1 },
        { name: 'x', namespaces: 1, links: 0, nftTables: 0 },
      ],
      new Map([['lab', record('lab', [...local, { name: 'r', via: { kind: 'ssh', destination: 'root@r' } }])]]),
    );
    expect(renderList(rows, false).split('\n')).toEqual([
      'TOPOLOGY  NAMESPACES  LINKS  NFT TABLES  LAST APPLY            FILE',
      'lab       12          30     1           2025-03-04T05:06:07Z  /labs/lab.yaml',
      'x         1           0      0           unknown               unknown',
      'lab: also on host "r" (ssh root@r); counted here is only what is on this machine',
    ]);
    expect(renderList([], false)).toBe('tsnet owns nothing on this machine.');
  });

  it('JSON: null where no record says', () => {
    const rows = listRows([{ name: 'x', namespaces: 1, links: 2, nftTables: 0 }], new Map());
    expect(listJson(rows)).toEqual({
      format_version: expect.stringMatching(/^1\./),
      topologies: [{ name: 'x', namespaces: 1, links: 2, nft_tables: 0, last_apply: null, file: null, hosts: null }],
    });
  });
});
