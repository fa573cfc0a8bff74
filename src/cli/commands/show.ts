import { ExitError } from '../errors.js';
export async function showCommand(_file: string, _opts: Record<string, unknown>): Promise<void> {
  throw new ExitError('show: not built yet');
}
