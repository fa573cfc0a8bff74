import { ExitError } from '../errors.js';
export async function destroyCommand(_file: string, _opts: Record<string, unknown>): Promise<void> {
  throw new ExitError('destroy: not built yet');
}
