import { ExitError } from '../errors.js';
export async function applyCommand(_file: string, _opts: Record<string, unknown>): Promise<void> {
  throw new ExitError('apply: not built yet');
}
