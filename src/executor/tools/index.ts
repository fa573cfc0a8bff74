// The tool registry: every program a step can run, by the name steps give it. A new tool (tc,
// file writes) is one module beside these and one entry here.
import { bridge } from './bridge.js';
import { file } from './file.js';
import { ip } from './ip.js';
import { nft } from './nft.js';
import { sysctl } from './sysctl.js';
import { tc } from './tc.js';
import type { ToolModule } from './types.js';

export const TOOLS = { ip, bridge, sysctl, nft, tc, file } as const satisfies Record<string, ToolModule>;

/** The name of a tool, as steps and commands carry it. */
export type Tool = keyof typeof TOOLS;

export function toolFor(name: string): ToolModule {
  const tool = (TOOLS as Record<string, ToolModule>)[name];
  if (!tool) throw new Error(`internal: no tool "${name}" (registered: ${Object.keys(TOOLS).join(', ')})`);
  return tool;
}
